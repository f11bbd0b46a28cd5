"""Every inbox Tune reads: IMAP_URL's (the default mailbox) and each mailbox's IMAP URL.

One `Poller` per folder, each taking the folder's own lease, so with several
processes each folder is still read by one poller at a time. The set runs in every
`tune run` (unless TUNE_RUN_INBOX is off), even with no inbox to read yet, and is
looked at again every `refresh_seconds`, or at once on `wake()`: a mailbox added,
changed or deleted in the dashboard or the API starts, restarts or stops its poller
without a restart of Tune (at once in the process that made the change, within
`refresh_seconds` in the others). Between looks the set holds no database connection.
"""

from __future__ import annotations

from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.logs import get_logger
from webapp.core.workers import Worker
from webapp.inbox.mailbox import MailboxUrl, parse_mailbox_url
from webapp.inbox.poller import InboxPolicy, Poller
from webapp.mailboxes.store import imap_url, list_mailboxes

log = get_logger(__name__)


class InboxPollers(Worker):
    """Runs one poller per inbox and keeps the set in step with the mailboxes."""

    kind = "inboxes"

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        policy: InboxPolicy | None = None,
        refresh_seconds: float = 60.0,
    ) -> None:
        super().__init__()
        self.db = db
        self.config = config
        self.policy = policy
        self.refresh_seconds = refresh_seconds
        self.pollers: dict[str, tuple[MailboxUrl, Poller]] = {}

    async def wanted(self) -> dict[str, MailboxUrl]:
        """The inboxes to read now, by name (`default` for IMAP_URL)."""
        urls: dict[str, MailboxUrl] = {}
        if self.config.imap_url:
            urls["default"] = parse_mailbox_url(self.config.imap_url)
        async with self.db.read() as session:
            for mailbox in await list_mailboxes(session):
                try:
                    url = imap_url(self.config, mailbox)
                except Exception as exc:  # a bad URL or a password that no longer opens
                    log.warning("mailbox_inbox_unusable", mailbox=mailbox.name, error=str(exc))
                    continue
                if url is not None and url.key not in {known.key for known in urls.values()}:
                    urls[mailbox.name] = url
        return urls

    async def refresh(self) -> None:
        """Start pollers for new inboxes, restart changed ones, stop the ones gone."""
        wanted = await self.wanted()
        for name in list(self.pollers):
            url, poller = self.pollers[name]
            if wanted.get(name) != url:
                await poller.stop()
                del self.pollers[name]
        for name, url in wanted.items():
            if name not in self.pollers:
                poller = Poller(self.db, self.config, policy=self.policy, url=url)
                poller.start()
                self.pollers[name] = (url, poller)

    async def _step(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the database hiccuped: keep the pollers running
            log.warning("inbox_refresh_failed", error=type(exc).__name__)
        await self._idle(self.refresh_seconds)

    async def _stopped(self) -> None:
        for _, poller in self.pollers.values():
            await poller.stop()
        self.pollers.clear()
