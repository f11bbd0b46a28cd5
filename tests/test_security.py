"""Hostile input against the API, the tracking links, static files and the dashboard:
stored literally, escaped when shown, refused cleanly, never a 500."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_recipient, make_user
from tests.support.servers import serve, tune_env
from tests.support.signin import csrf_of, login, page
from webapp.accounts.apikeys import create_key, revoke_key
from webapp.core.models import Contact
from webapp.outbound.tokens import TokenSigner
from webapp.web.services import Services

SQL_INJECTIONS = [
    "'; DROP TABLE campaigns; --",
    "Robert'); DELETE FROM events WHERE ('1'='1",
    '" OR ""="',
    "1 UNION SELECT key_hash FROM api_keys --",
]
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def create(client: Client, auth: dict[str, str], name: str) -> Any:
    return await client.post(
        "/api/campaigns/create", json={"name": name, "industry": "casino"}, headers=auth
    )


@pytest.mark.parametrize("name", SQL_INJECTIONS)
async def test_sql_injection_strings_are_stored_literally(
    client: Client, auth: dict[str, str], name: str
) -> None:
    created = await create(client, auth, name)
    assert created.status_code == 201
    campaign_id = (await created.get_json())["id"]
    fetched = await (await client.get(f"/api/campaigns/{campaign_id}", headers=auth)).get_json()
    assert fetched["name"] == name
    listed = await (await client.get("/api/campaigns", headers=auth)).get_json()
    assert [item["name"] for item in listed["items"]] == [name]


async def test_sql_injection_in_query_parameters_is_a_clean_422(
    client: Client, auth: dict[str, str]
) -> None:
    for path in (
        "/api/campaigns?limit=1%20OR%201=1",
        "/api/campaigns?cursor=%27%3B%20DROP%20TABLE%20campaigns",
        "/api/campaigns/1/prospects/1%20OR%201=1",
        "/api/tracking/email-opened?content_id=1%20OR%201=1&contact_id=1",
    ):
        method = client.post if "tracking" in path else client.get
        response = await method(path, headers=auth)
        assert response.status_code in (404, 422), path
        assert "error" in await response.get_json()


async def test_xss_in_a_campaign_name_is_escaped_on_the_dashboard(
    client: Client, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    campaign_id = (await (await create(client, auth, XSS)).get_json())["id"]
    await login(client)
    for path in ("/campaigns", f"/campaigns/{campaign_id}"):
        status, html = await page(client, path)
        assert status == 200, path
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert" in html, path


async def test_xss_in_a_contact_email_is_escaped_on_the_unsubscribe_page(
    client: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        contact = await session.get(Contact, content.contact_id)
        assert contact is not None
        contact.email = f"a{XSS}@example.com"
    token = TokenSigner(tune.config.secret_key).unsubscribe_token(content.id)
    status, html = await page(client, f"/t/u/{token}")
    assert status == 200
    assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "path",
    [
        "/static/../webapp/config.py",
        "/static/%2e%2e/webapp/config.py",
        "/static/..%2fwebapp%2fconfig.py",
        "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/t/o/..%2f..%2fetc%2fpasswd.gif",
        "/t/c/..%2f..%2fetc%2fpasswd",
        "/t/u/%2e%2e%2fapi%2fhealth",
    ],
)
async def test_path_traversal_never_reaches_a_file(client: Client, path: str) -> None:
    response = await client.get(path)
    body = await response.get_data()
    assert b"Config" not in body and b"root:" not in body
    # A pixel URL that still matches the route answers its GIF; anything else is a 404.
    assert response.status_code == 404 or response.content_type == "image/gif"


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
async def test_open_redirects_are_refused(client: Client, target: str, tune: Services) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    response = await client.get(f"/t/c/{target}")
    assert response.status_code == 404
    _, html = await page(client, "/login")
    signed_in = await client.post(
        "/login",
        form={
            "email": "rep@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf_of(html),
            "next": target,
        },
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/followups"


async def test_a_click_link_redirects_only_to_its_stored_url(
    client: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session, urls=("https://example.com/offer",))
    signer = TokenSigner(tune.config.secret_key)
    response = await client.get(f"/t/c/{signer.click_token(content.id, 0)}?next=//evil.example")
    assert response.headers["Location"] == "https://example.com/offer"
    forged = signer.click_token(content.id, 0)[:-2] + "AA"
    assert (await client.get(f"/t/c/{forged}")).status_code == 404


async def test_a_revoked_key_is_refused_on_the_next_request(client: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        created = await create_key(session, "to revoke")
    headers = {"X-API-Key": created.key}
    assert (await client.get("/api/industries", headers=headers)).status_code == 200
    async with tune.db.write() as session:
        await revoke_key(session, created.id)
    refused = await client.get("/api/industries", headers=headers)
    assert refused.status_code == 401
    assert (await refused.get_json())["error"]["code"] == "unauthorized"


async def test_near_miss_keys_are_refused(client: Client, api_key: str) -> None:
    """A key is looked up by its SHA-256 digest and compared with hmac.compare_digest,
    so a key sharing a long prefix with a real one gets no further than any other."""
    last = "A" if api_key[-1] != "A" else "B"
    for candidate in (api_key[:-1] + last, api_key + "x", api_key[:-1], api_key.upper()):
        if candidate == api_key:
            continue
        response = await client.get("/api/industries", headers={"X-API-Key": candidate})
        assert response.status_code == 401, candidate


async def test_oversized_json_body_is_413_and_bad_json_is_400(
    client: Client, auth: dict[str, str], tune: Services
) -> None:
    big = "x" * (tune.config.max_upload_bytes + 1)
    response = await client.post(
        "/api/campaigns/create",
        data=big,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    broken = await client.post(
        "/api/campaigns/create",
        data=b'{"name": "\xff\xfe", "industry": ',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.status_code in (400, 422)
    assert "error" in await broken.get_json()


async def test_invalid_utf8_in_inputs_never_500s(client: Client, auth: dict[str, str]) -> None:
    for path in (
        "/api/campaigns/create?name=%ff%fe%fd&industry=casino",
        "/api/campaigns/create?name=ok&industry=%c3%28",
    ):
        response = await client.post(path, headers=auth)
        assert response.status_code in (201, 400, 422), path
    form = await client.post(
        "/api/campaigns/create",
        data=b"name=%ff%fe&industry=\xff\xfe",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code in (201, 400, 415, 422)
    assert "error" in await form.get_json() or form.status_code == 201
    assert (await client.get("/t/o/%ff%fe.gif")).status_code == 200


async def test_dashboard_forms_need_the_session_csrf_token(client: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    await login(client)
    form = {"name": "Forged", "industry": "casino"}
    missing = await client.post("/campaigns", form=form)
    forged = await client.post("/campaigns", form={**form, "csrf_token": "forged" * 8})
    assert missing.status_code == 403
    assert forged.status_code == 403
    _, html = await page(client, "/campaigns")
    assert "Forged" not in html
    logout = await client.post("/logout")
    assert logout.status_code == 403  # signing someone out needs the token too


def raw_request(base: str, payload: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def test_malformed_and_oversized_http_is_refused_by_a_real_server(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path)
    with serve(env, tmp_path) as base:
        huge_header = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
        answers = [
            raw_request(base, huge_header + b"\r\nConnection: close\r\n\r\n"),
            raw_request(base, b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            raw_request(base, b"NONSENSE\r\n\r\n"),
            raw_request(
                base,
                b"GET /t/o/x.gif HTTP/1.1\r\nHost: x\r\nUser-Agent: \xff\xfe\r\n"
                b"Connection: close\r\n\r\n",
            ),
        ]
        for answer in answers:
            status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
            assert not status.startswith(b"5"), answer[:200]
        assert answers[3].startswith(b"HTTP/1.1 200"), answers[3][:200]
        health = raw_request(
            base, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert health.startswith(b"HTTP/1.1 200")
    log = "\n".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert "unhandled_error" not in log
