"""Reading the mailbox: one pass, and the long-running poller that `tune run` starts.

A pass takes the folder's lease, selects the folder, and handles every message
whose UID is above the last one processed (a folder whose UIDVALIDITY changed
starts again from the beginning; the receipts keep Message-IDs already handled
from counting twice). Each message is recorded and the folder's progress saved
in one transaction; then it is marked on the server with the `$TuneProcessed`
keyword (or moved to IMAP_PROCESSED_FOLDER). Messages that match nothing are
counted and left where they are, unmarked.

The poller repeats passes: it waits with IMAP IDLE where the server offers it
(a new message is read within seconds), else every IMAP_POLL_SECONDS, renewing
its lease as it goes. A dropped connection is reopened with exponential backoff;
after `breaker_threshold` failures in a row the circuit opens, and only one try
per `reconnect_max` seconds is made until one succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from webapp.core import metrics
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.logs import get_logger
from webapp.core.workers import Worker
from webapp.inbox import lease
from webapp.inbox.mailbox import (
    FETCH_BATCH,
    PROCESSED_KEYWORD,
    Folder,
    Mailbox,
    MailboxError,
    MailboxUrl,
    oauth2_token,
    parse_mailbox_url,
)
from webapp.inbox.message import Kind, parse_message
from webapp.inbox.outcomes import Handled, handle_inbound
from webapp.outbound.sending.sender import new_worker_id

log = get_logger(__name__)


@dataclass(frozen=True)
class InboxPolicy:
    """Timings of the poller; the defaults suit a real mailbox, tests shrink them."""

    lease_seconds: float = 90.0
    """How long the mailbox belongs to one poller without renewal."""
    reconnect_base: float = 2.0
    reconnect_max: float = 300.0
    breaker_threshold: int = 5
    """Failures in a row that open the circuit."""
    timeout: float = 30.0
    """Seconds an IMAP command may take."""


@dataclass
class PassReport:
    """What one pass over the folder found."""

    outcomes: Counter[str] = field(default_factory=Counter)
    messages: list[tuple[int, str, str, str]] = field(default_factory=list)
    """(uid, kind, outcome, subject) of each message handled."""

    def add(self, uid: int, kind: str, handled: Handled, subject: str) -> None:
        self.outcomes[handled.outcome] += 1
        self.messages.append((uid, kind, handled.outcome, subject))


class InboxBusy(Exception):
    """Another process holds the mailbox's lease."""

    def __init__(self, owner: str | None, until: datetime | None) -> None:
        super().__init__(f"the mailbox is being read by {owner} until {until}")
        self.owner = owner
        self.until = until


class Poller(Worker):
    """Reads one folder (IMAP_URL's, or a mailbox's `url`) and records what arrives; the
    folder's lease makes one poller at a time read it, whatever the processes."""

    kind = "inbox"

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        policy: InboxPolicy | None = None,
        worker_id: str | None = None,
        url: MailboxUrl | None = None,
    ) -> None:
        from webapp.core.errors import ConfigError

        super().__init__()
        if url is None and not config.imap_url:
            raise ConfigError("IMAP_URL: required to read the mailbox")
        self.url = url or parse_mailbox_url(str(config.imap_url))
        if self.url.xoauth2 and not config.imap_oauth2_token_command:
            raise ConfigError("IMAP_OAUTH2_TOKEN_COMMAND: required when IMAP_URL has ?auth=xoauth2")
        self.db = db
        self.config = config
        self.policy = policy or InboxPolicy()
        self.worker_id = worker_id or new_worker_id()
        self.failures = 0
        self._mailbox: Mailbox | None = None

    def task_name(self) -> str:
        return f"tune-inbox-{self.worker_id}"

    def _started(self) -> None:
        log.info("inbox_started", mailbox=self.url.redacted(), worker=self.worker_id)

    def _stop_asked(self) -> None:
        if self._mailbox is not None:
            self._mailbox.stop_idle.set()

    async def _stopped(self) -> None:
        log.info("inbox_stopped", worker=self.worker_id)

    async def _step(self) -> None:
        if not await self._acquire():
            await self._sleep(self.policy.lease_seconds / 3)
            return
        try:
            await self._read_until_stopped()
            self._succeeded()
        except lease.LeaseLost:
            log.info("inbox_lease_lost", worker=self.worker_id)
        except Exception as exc:  # the mailbox or the database failed: back off
            await self._failed(exc)

    async def _finish(self) -> None:
        with contextlib.suppress(Exception):
            async with self.db.write() as session:
                await lease.release(session, self.url.key, self.worker_id)

    async def check_once(self) -> PassReport:
        """One pass now (`tune inbox check`); InboxBusy if another process holds the lease."""
        if not await self._acquire():
            async with self.db.read() as session:
                current = await lease.state(session, self.url.key)
            raise InboxBusy(
                current.lease_owner if current else None,
                current.lease_expires_at if current else None,
            )
        opened = await self._open()
        try:
            return await self.read_new(opened.mailbox, opened.folder)
        finally:
            await opened.mailbox.close()
            async with self.db.write() as session:
                await lease.release(session, self.url.key, self.worker_id)

    async def _open(self) -> _OpenMailbox:
        token = None
        if self.url.xoauth2:
            assert self.config.imap_oauth2_token_command is not None
            token = await oauth2_token(self.config.imap_oauth2_token_command)
        mailbox = Mailbox(self.url, timeout=self.policy.timeout)
        try:
            folder = await mailbox.open(token)
        except BaseException:
            await mailbox.close()
            raise
        return _OpenMailbox(mailbox, folder)

    async def _read_until_stopped(self) -> None:
        opened = await self._open()
        self._mailbox = opened.mailbox
        metrics.INBOX_CONNECTED.set(1)
        try:
            self._succeeded()
            while not self._stopping.is_set():
                await self.read_new(opened.mailbox, opened.folder)
                await self._wait(opened)
        finally:
            metrics.INBOX_CONNECTED.set(0)
            self._mailbox = None
            await opened.mailbox.close()

    async def _wait(self, opened: _OpenMailbox) -> None:
        """Until the server announces mail (IDLE) or the poll interval passes; renews the lease."""
        remaining = self.config.imap_poll_seconds
        chunk = max(1.0, self.policy.lease_seconds / 3)
        while remaining > 0 and not self._stopping.is_set():
            step = min(chunk, remaining)
            if opened.folder.idle:
                if await opened.mailbox.wait_for_news(step):
                    return
            else:
                await self._sleep(step)
                await opened.mailbox.noop()
            remaining -= step
            if not await self._acquire():
                raise lease.LeaseLost(self.url.key)

    async def read_new(self, mailbox: Mailbox, folder: Folder) -> PassReport:
        """Handle every message above the folder's last processed UID."""
        report = PassReport()
        async with self.db.read() as session:
            current = await lease.state(session, self.url.key)
        last = current.last_uid if current and current.uidvalidity == folder.uidvalidity else 0
        move_to = self.config.imap_processed_folder
        keyword = None if move_to else PROCESSED_KEYWORD
        uids = await mailbox.new_uids(last, keyword=keyword)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            raws = await mailbox.fetch(batch)
            for uid in batch:
                if self._stopping.is_set():
                    return report
                kind, subject, handled = await self._handle(raws.get(uid, b""), folder, uid)
                report.add(uid, kind, handled, subject)
                if handled.outcome in {"unmatched", "unreadable"}:
                    continue
                try:
                    await mailbox.mark(uid, keyword=PROCESSED_KEYWORD, move_to=move_to)
                except MailboxError as exc:
                    log.warning("inbox_mark_failed", uid=uid, error=str(exc))
        if uids:
            log.info("inbox_pass", found=len(uids), **dict(report.outcomes))
        return report

    async def _handle(self, raw: bytes, folder: Folder, uid: int) -> tuple[str, str, Handled]:
        try:
            inbound = await asyncio.to_thread(parse_message, raw)
        except Exception:  # a message no parser can read must not stop the mailbox
            log.warning("inbox_unreadable_message", uid=uid)
            inbound = None
        async with self.db.write() as session:
            if inbound is None:
                handled = Handled("unreadable")
                metrics.INBOX_MESSAGES.labels("unreadable").inc()
            else:
                handled = await handle_inbound(session, inbound, "imap")
            await lease.save_progress(
                session,
                self.url.key,
                self.worker_id,
                uidvalidity=folder.uidvalidity,
                last_uid=uid,
                seconds=self.policy.lease_seconds,
            )
        kind = inbound.kind.value if inbound else Kind.REPLY.value
        subject = inbound.subject if inbound else ""
        return kind, subject, handled

    async def _acquire(self) -> bool:
        try:
            async with self.db.write() as session:
                return await lease.acquire(
                    session, self.url.key, self.worker_id, self.policy.lease_seconds
                )
        except Exception as exc:  # the database hiccuped: try again shortly
            log.warning("inbox_lease_failed", error=type(exc).__name__)
            return False

    def _succeeded(self) -> None:
        if self.failures:
            log.info("inbox_reconnected", after_failures=self.failures)
        self.failures = 0
        metrics.INBOX_CIRCUIT_STATE.set(0)

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        stage = "mailbox" if isinstance(exc, MailboxError | OSError | TimeoutError) else "other"
        metrics.INBOX_FAILURES.labels(stage).inc()
        opened = self.failures >= self.policy.breaker_threshold
        metrics.INBOX_CIRCUIT_STATE.set(2 if opened else 0)
        ceiling = min(
            self.policy.reconnect_max, self.policy.reconnect_base * 2 ** (self.failures - 1)
        )
        delay = self.policy.reconnect_max if opened else random.uniform(ceiling / 2, ceiling)
        log.warning(
            "inbox_failed",
            mailbox=self.url.redacted(),
            error=str(exc)[:300] if isinstance(exc, MailboxError) else type(exc).__name__,
            failures=self.failures,
            retry_in=round(delay, 1),
        )
        await self._sleep(delay)
        if opened:
            metrics.INBOX_CIRCUIT_STATE.set(1)  # half-open: the next connection is the trial


@dataclass
class _OpenMailbox:
    mailbox: Mailbox
    folder: Folder
