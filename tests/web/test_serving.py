"""Slow clients against a real `tune run`: a header deadline; a limit on requests, not sockets."""

from __future__ import annotations

import asyncio
import http.client
import resource
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from tests.support.servers import free_port, serve, tune_env
from webapp.web import serving

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 2000
HEADER_TIMEOUT = 8.0


def allow_open_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"needs {count} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


def state(sock: socket.socket) -> str:
    """open (still waiting), 408 (told why, then closed) or closed."""
    try:
        data = sock.recv(200)
    except BlockingIOError:
        return "open"
    except OSError:
        return "closed"
    return "408" if data.startswith(b"HTTP/1.1 408 ") else "closed"


def status_of_response(sock: socket.socket) -> int:
    """Read one whole response from the connection and return its status."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response.status


def test_slow_header_clients_are_dropped_and_do_not_lock_others_out(
    database_url: str, tmp_path: Path
) -> None:
    allow_open_files(SLOW_CLIENTS * 2 + 500)
    env = tune_env(database_url, tmp_path, HEADER_TIMEOUT=f"{HEADER_TIMEOUT:g}")
    with serve(env, tmp_path) as base:
        address = urlsplit(base)
        slow: list[socket.socket] = []
        try:
            started = time.monotonic()
            for _ in range(SLOW_CLIENTS):
                sock = socket.create_connection((address.hostname, address.port), timeout=5)
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: tune\r\n")
                sock.setblocking(False)
                slow.append(sock)
            opened = time.monotonic() - started
            assert opened < HEADER_TIMEOUT - 2, f"opening took {opened:.1f} s: too slow to test"
            assert [state(sock) for sock in slow].count("open") == SLOW_CLIENTS

            # With every slow client still connected, others are served, and quickly.
            for _ in range(3):
                asked = time.monotonic()
                answer = httpx.get(base + "/api/health", timeout=5)
                assert answer.status_code == 200, answer.text
                assert time.monotonic() - asked < 1.0

            # A header line now and then does not buy more time.
            states: dict[int, str] = {}
            deadline = started + HEADER_TIMEOUT + 6
            while len(states) < SLOW_CLIENTS and time.monotonic() < deadline:
                for number, sock in enumerate(slow):
                    if number in states:
                        continue
                    now = state(sock)
                    if now != "open":
                        states[number] = now
                        continue
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                    except OSError:
                        states[number] = "closed"
                time.sleep(1)
            assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5
            assert len(states) == SLOW_CLIENTS, f"{SLOW_CLIENTS - len(states)} still connected"
            assert list(states.values()).count("408") > SLOW_CLIENTS * 0.9
        finally:
            for sock in slow:
                sock.close()
        assert httpx.get(base + "/api/health", timeout=5).status_code == 200


def test_a_client_that_finishes_its_headers_in_time_is_served(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path, HEADER_TIMEOUT="2")
    with serve(env, tmp_path) as base:
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\n")
            time.sleep(1)
            sock.sendall(b"Host: tune\r\n\r\n")
            assert status_of_response(sock) == 200
            # The deadline starts again with the next request on the same connection.
            time.sleep(1.5)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: tune\r\n\r\n")
            assert status_of_response(sock) == 200


async def test_the_limit_counts_requests_in_flight_not_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(serving.REQUEST_LIMIT_ENV, "2")
    monkeypatch.setenv(serving.HEADER_TIMEOUT_ENV, "30")
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/hold":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, http=serving.PROTOCOL, lifespan="off", log_config=None
        )
    )
    running = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        waiting = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        for _, writer in waiting:
            writer.write(b"GET / HTTP/1.1\r\n")  # headers never finished
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            held = [asyncio.create_task(client.get("/hold")) for _ in range(2)]
            while len(server.server_state.tasks) < 2:
                await asyncio.sleep(0.01)
            assert (await client.get("/")).status_code == 503
            release.set()
            assert [(await answer).status_code for answer in held] == [200, 200]
            assert (await client.get("/")).status_code == 200
        for _, writer in waiting:
            writer.close()
    finally:
        server.should_exit = True
        await running
