"""A test client that enters the app through its ASGI entry point, as uvicorn does.

Quart's own test client calls the app's request handling directly, so it never
meets what sits in front of it (the tracking fast path). This one builds an
ASGI scope and calls `app(scope, receive, send)`, and answers with the same
interface as Quart's test client for what the tests use.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any
from urllib.parse import quote, unquote, urlencode

from quart import Quart
from werkzeug.datastructures import Headers


class AsgiResponse:
    def __init__(self, status_code: int, headers: Headers, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self._body = body

    async def get_data(self, as_text: bool = False) -> Any:
        return self._body.decode() if as_text else self._body

    async def get_json(self) -> Any:
        return jsonlib.loads(self._body)


class AsgiClient:
    """`get`, `head` and `post` through `app.__call__`, like a server would."""

    def __init__(self, app: Quart, host: str = "tune.test") -> None:
        self.app = app
        self.host = host

    async def get(self, path: str, **options: Any) -> AsgiResponse:
        return await self.open(path, method="GET", **options)

    async def head(self, path: str, **options: Any) -> AsgiResponse:
        return await self.open(path, method="HEAD", **options)

    async def post(self, path: str, **options: Any) -> AsgiResponse:
        return await self.open(path, method="POST", **options)

    async def open(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        query_string: dict[str, Any] | None = None,
        data: bytes | str | None = None,
        json: Any = None,
        scope_base: dict[str, Any] | None = None,
    ) -> AsgiResponse:
        path, _, query = path.partition("?")
        if query_string:
            query = "&".join(filter(None, [query, urlencode(query_string)]))
        sent_headers = {"host": self.host, **{k.lower(): v for k, v in (headers or {}).items()}}
        body = b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent_headers.setdefault("content-type", "application/json")
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        if body:
            sent_headers["content-length"] = str(len(body))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": quote(unquote(path)).encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in sent_headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": (self.host, 80),
            "extensions": {},
            **(scope_base or {}),
        }
        answered = asyncio.Event()
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        status = 0
        response_headers = Headers()
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message["headers"]:
                    response_headers.add(name.decode(), value.decode())
            elif message["type"] == "http.response.body":
                if method != "HEAD":
                    chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set()

        await self.app(scope, receive, send)
        return AsgiResponse(status, response_headers, b"".join(chunks))
