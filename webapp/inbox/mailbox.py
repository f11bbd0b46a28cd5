"""The mailbox that receives replies: its URL, and an IMAP connection to it.

IMAP is spoken by imapclient (a maintained, blocking client), one connection
per `Mailbox`, every call made on the mailbox's own single worker thread so the
event loop never waits on the network. TLS is required: `imaps://` (port 993)
or `imap://` with STARTTLS; only `?starttls=false` (for a loopback test server)
sends the password in the clear. Credentials never appear in logs or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from imapclient import IMAPClient

from webapp.core.errors import ConfigError

T = TypeVar("T")
PROCESSED_KEYWORD = "$TuneProcessed"
FETCH_BATCH = 50


@dataclass(frozen=True)
class MailboxUrl:
    """IMAP_URL, parsed: `imaps://user:password@host:993/INBOX`."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    tls: bool = True
    """imaps: TLS from the first byte."""
    starttls: bool = True
    """imap: upgrade with STARTTLS (required unless `?starttls=false`)."""
    xoauth2: bool = False
    """`?auth=xoauth2`: log in with an OAuth2 access token (IMAP_OAUTH2_TOKEN_COMMAND)."""

    @property
    def key(self) -> str:
        """Names the folder in the database: user@host:port/folder, no secret."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"[:255]

    def redacted(self) -> str:
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.username}:***@{self.host}:{self.port}/{self.folder}"


def parse_mailbox_url(url: str, name: str = "IMAP_URL") -> MailboxUrl:
    """Read an IMAP URL; a bad one raises ConfigError naming `name` (never echoing the secret)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"imap", "imaps"}:
        raise ConfigError(f"{name}: expected imaps://user:password@host:993/INBOX or imap://...")
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise ConfigError(f"{name}: the port must be a number between 1 and 65535") from None
    host = parts.hostname or ""
    user = parts.username or ""
    password = parts.password or ""
    if not host or not user:
        raise ConfigError(f"{name}: the URL needs a user name and a host (user:password@host)")
    options = {key.lower(): values[-1].lower() for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"starttls", "auth"}
    if unknown:
        raise ConfigError(f"{name}: unknown option {sorted(unknown)[0]!r} (starttls, auth)")
    starttls = options.get("starttls", "true") not in {"false", "0", "no", "off"}
    auth = options.get("auth", "password")
    if auth not in {"password", "xoauth2"}:
        raise ConfigError(f"{name}: auth must be password or xoauth2")
    if auth == "password" and not password:
        raise ConfigError(f"{name}: the URL needs a password (or ?auth=xoauth2)")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxUrl(
        host=host,
        port=port,
        username=unquote(user),
        password=unquote(password),
        folder=folder,
        tls=parts.scheme == "imaps",
        starttls=parts.scheme == "imap" and starttls,
        xoauth2=auth == "xoauth2",
    )


class MailboxError(Exception):
    """The mailbox could not be reached, logged into or read (the message says which step)."""


async def oauth2_token(command: str) -> str:
    """Run IMAP_OAUTH2_TOKEN_COMMAND and return the access token it prints."""
    process = await asyncio.create_subprocess_exec(
        *shlex.split(command),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    token = output.decode().strip()
    if process.returncode != 0 or not token:
        raise MailboxError(f"IMAP_OAUTH2_TOKEN_COMMAND exited with {process.returncode}")
    return token


@dataclass(frozen=True)
class Folder:
    uidvalidity: int
    idle: bool
    """The server offers IDLE."""


class Mailbox:
    """One IMAP connection to one folder. Methods are coroutines run on one thread."""

    def __init__(self, url: MailboxUrl, *, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tune-imap")
        self.stop_idle = threading.Event()

    async def _call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def open(self, token: str | None = None) -> Folder:
        """Connect, secure, log in and select the folder."""
        return await self._call(lambda: self._open(token))

    def _open(self, token: str | None) -> Folder:
        url = self.url
        context = ssl.create_default_context()
        step = "connect"
        try:
            client = IMAPClient(
                url.host, port=url.port, ssl=url.tls, ssl_context=context, timeout=self.timeout
            )
            self.client = client
            if url.starttls:
                step = "starttls"
                client.starttls(context)
            step = "login"
            if url.xoauth2:
                client.oauth2_login(url.username, token or "")
            else:
                client.login(url.username, url.password)
            step = "select"
            selected = client.select_folder(url.folder)
        except Exception as exc:
            self._drop()
            raise MailboxError(f"{step} failed: {_reason(exc)}") from None
        uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        return Folder(uidvalidity, bool(client.has_capability("IDLE")))

    async def new_uids(self, after: int, *, keyword: str | None) -> list[int]:
        """UIDs above `after` (without `keyword`, when given), oldest first."""

        def search() -> list[int]:
            criteria: list[Any] = ["UID", f"{after + 1}:*"]
            if keyword:
                criteria += ["UNKEYWORD", keyword]
            return sorted(uid for uid in self._client().search(criteria) if uid > after)

        return await self._call(search)

    async def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """The raw messages, without setting \\Seen (the rep's unread mail stays unread)."""

        def fetch() -> dict[int, bytes]:
            found = self._client().fetch(uids, ["BODY.PEEK[]"])
            return {uid: bytes(data.get(b"BODY[]", b"")) for uid, data in found.items()}

        return await self._call(fetch)

    async def mark(self, uid: int, *, keyword: str, move_to: str | None) -> None:
        """Flag a processed message, or move it to the operator's folder."""

        def mark() -> None:
            client = self._client()
            if move_to:
                if client.has_capability("MOVE"):
                    client.move([uid], move_to)
                else:  # no MOVE: copy, flag deleted, expunge just this one where possible
                    client.copy([uid], move_to)
                    client.delete_messages([uid])
                    if client.has_capability("UIDPLUS"):
                        client.expunge([uid])
                    else:
                        client.expunge()
            else:
                client.add_flags([uid], [keyword], silent=True)

        await self._call(mark)

    async def wait_for_news(self, seconds: float) -> bool:
        """IDLE for up to `seconds`; True as soon as the server announces a new message."""

        def idle() -> bool:
            client = self._client()
            client.idle()
            news = False
            try:
                waited = 0.0
                while waited < seconds and not self.stop_idle.is_set() and not news:
                    step = min(1.0, seconds - waited)
                    responses = client.idle_check(timeout=step)
                    waited += step
                    news = any(
                        len(item) > 1 and item[1] in {b"EXISTS", b"RECENT"} for item in responses
                    )
            finally:
                client.idle_done()
            return news

        return await self._call(idle)

    async def noop(self) -> None:
        await self._call(lambda: self._client().noop())

    async def close(self) -> None:
        self.stop_idle.set()
        await self._call(self._logout)
        self._thread.shutdown(wait=False)

    def _logout(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to say goodbye to
                self.client.logout()
        self._drop()

    def _drop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the socket is already closed
                self.client.shutdown()
        self.client = None

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise MailboxError("not connected")
        return self.client


def _reason(exc: BaseException) -> str:
    """A short reason that never carries the password (imaplib errors quote the server)."""
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
