"""The long-lived parts of one Tune process, built at startup and closed at shutdown.

They live with the HTTP adapters because they wire every layer together (the
database, the event writer, the rate limiter, the email sender, the webhook
dispatcher) for the routes; the domain packages take what they need as
arguments and never reach for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import current_app

from webapp.accounts.apikeys import KeyCache
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.outbound.tokens import TokenSigner
from webapp.tracking.hits import LinkCache
from webapp.tracking.links import LinkReads
from webapp.tracking.writer import EventWriter
from webapp.web.ratelimit import RateLimiter

if TYPE_CHECKING:
    from webapp.inbox.pollers import InboxPollers
    from webapp.mailboxes.capacity import Slots
    from webapp.outbound.sending.sender import Sender
    from webapp.webhooks.dispatcher import Dispatcher


@dataclass
class Services:
    config: Config
    db: Database
    writer: EventWriter
    limiter: RateLimiter
    signer: TokenSigner
    ip_salt: str
    link_cache: LinkCache
    key_cache: KeyCache
    """API keys verified recently (see webapp.accounts.apikeys and .keywatch)."""
    link_reads: LinkReads
    """Links through `link_cache`, the misses waiting together read in one query."""
    sender: Sender | None = None
    """The email sender, when this process runs one (SMTP_URL set, TUNE_RUN_SENDER on)."""
    poller: InboxPollers | None = None
    """The inbox readers (IMAP_URL's and each mailbox's), when this process runs them
    (TUNE_RUN_INBOX on), even before there is an inbox to read."""
    dispatcher: Dispatcher | None = None
    """The webhook dispatcher, when this process runs one (TUNE_RUN_WEBHOOKS on)."""
    slots: Slots | None = None
    """Where mailbox caps are counted (Redis or the database); made when first needed."""

    def mailboxes_changed(self, *, may_send: bool = False) -> None:
        """A mailbox was added, changed or deleted here: the inbox readers look again
        now, and, when `may_send`, a sender waiting for a mailbox sends now."""
        if self.poller is not None:
            self.poller.wake()
        if may_send and self.sender is not None:
            self.sender.wake()

    def mailbox_slots(self) -> Slots:
        if self.slots is None:
            from webapp.mailboxes.capacity import slots_for

            self.slots = slots_for(self.config)
        return self.slots


def services() -> Services:
    """The running app's services (inside a request or app context)."""
    tune: Services = current_app.extensions["tune"]
    return tune
