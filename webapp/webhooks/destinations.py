"""Where a webhook may be delivered: public addresses only, unless allowed otherwise.

A webhook URL is chosen by whoever holds an API key or a dashboard session, and
the dispatcher posts to it from inside the network Tune runs in; so in
production a URL whose host resolves to a private, loopback, link-local,
multicast, reserved or otherwise non-public address is refused (server-side
request forgery). It is checked twice: when the endpoint is saved (a clear 422),
and on every connection the dispatcher opens, where the host is resolved once,
every address is checked, and the socket connects to a checked address, never
to a name resolved again; so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot reach an internal service. TLS still
verifies the certificate against the URL's host name.

`WEBHOOKS_ALLOW_PRIVATE` (on by default in development only) lifts the rule,
for receivers on the same machine or network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore._backends.auto import AutoBackend

from webapp.core.errors import ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: str) -> str | None:
    """Why `address` is not a public destination, or None when it is."""
    try:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if hit:
            return kind
    if not ip.is_global:
        return "not public"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal is itself), off the event loop."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def first_refused(addresses: Iterable[str]) -> tuple[str, str] | None:
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            return address, reason
    return None


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse (422) a URL whose host does not resolve, or resolves to a non-public address."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        raise ValidationFailed(f"url: the host {host!r} does not resolve", field="url") from None
    refused = first_refused(addresses)
    if not addresses or refused is not None:
        address, reason = refused or ("", "no address")
        raise ValidationFailed(
            f"url: {host} resolves to a {reason} address ({address}); "
            "webhooks are delivered to public addresses only",
            field="url",
        )


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to checked public addresses only (see the module's doc)."""

    def __init__(self) -> None:
        self._backend = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(resolve(host, port), timeout)
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None
        refused = first_refused(addresses)
        if refused is not None or not addresses:
            address, reason = refused or ("", "no address")
            raise httpcore.ConnectError(
                f"refused: {host} resolves to a {reason} address ({address})"
            )
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not delivered over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def public_only_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through `PublicOnlyBackend`.

    No proxy from the environment: a proxy would connect on Tune's behalf, unchecked.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    ssl_context = httpx.create_ssl_context(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PublicOnlyBackend(),
    )
    return transport
