"""The benchmark's yardsticks: a bare Quart app and a raw ASGI app answering the pixel's GIF.

Tune's code cannot move these two: they answer the same 43-byte GIF with the
same headers as Tune's pixel, served by uvicorn with exactly the options of
`tune run` (`webapp.web.serving.uvicorn_options`), and with the garbage
collector set as `tune run` sets it once serving (`webapp.core.collector`:
startup frozen, young collections rarer), which alone makes a bare Quart
request about 7% cheaper. Tune's routes are measured
as a share of the bare Quart app, in the same run, alternating with it.

    python -m bench.ceilings quart --port 8001
    python -m bench.ceilings raw --port 8002
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from webapp.core import collector
from webapp.web import serving
from webapp.web.serving import PIXEL, PIXEL_HEADERS, uvicorn_options

REQUEST_LIMIT = 2000
"""`tune run --limit-concurrency`'s default."""


def quart_app() -> Any:
    """One Quart route, `/t/o/<token>.gif`, and nothing else: no hooks, no logging."""
    from quart import Quart, Response

    app = Quart("ceiling")
    app.before_serving(_settle)

    @app.get("/t/o/<token>.gif")
    async def pixel(token: str) -> Response:
        return Response(PIXEL, status=200, headers=PIXEL_HEADERS)

    return app


async def _settle() -> None:
    collector.settle()


RAW_HEADERS = [(b"content-length", str(len(PIXEL)).encode())] + [
    (name.lower().encode(), value.encode()) for name, value in PIXEL_HEADERS.items()
]


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The least an ASGI app can do: answer every HTTP request with the GIF."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                collector.settle()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": RAW_HEADERS})
    await send({"type": "http.response.body", "body": PIXEL})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.ceilings")
    parser.add_argument("app", choices=["quart", "raw"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # What `tune run` gives its protocol (webapp/web/serving.py), at its defaults.
    os.environ[serving.HEADER_TIMEOUT_ENV] = f"{serving.DEFAULT_HEADER_TIMEOUT:g}"
    os.environ[serving.REQUEST_LIMIT_ENV] = str(REQUEST_LIMIT)
    if args.workers > 1:  # uvicorn's workers import the app by name
        name = "bench.ceilings:quart_app" if args.app == "quart" else "bench.ceilings:raw_app"
        options = {**uvicorn_options(), "workers": args.workers, "factory": args.app == "quart"}
        uvicorn.run(name, host="127.0.0.1", port=args.port, **options)
        return
    app = quart_app() if args.app == "quart" else raw_app
    uvicorn.run(app, host="127.0.0.1", port=args.port, **uvicorn_options())


if __name__ == "__main__":
    main()
