"""One email as a sender holds it: the leased row, addressed to its contact, from its
mailbox; and the Message-ID every send, retry and export of it carries."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from webapp.core.config import Config
from webapp.core.models import Content, Mailbox
from webapp.mailboxes.capacity import Taken
from webapp.mailboxes.store import from_header
from webapp.outbound.smtp.message import make_message_id


@dataclass(frozen=True)
class LeasedEmail:
    """One leased row and what building its message needs."""

    content_id: int
    campaign_id: int
    tier: int
    email: str
    name: str
    subject: str
    html: str
    text: str
    message_id: str
    attempt: int
    contact_id: int
    step: int
    in_reply_to: str | None
    """Set on a follow-up sent as a reply: the previous step's Message-ID."""
    thread_refs: str | None
    mailbox_id: int | None = None
    """The mailbox it leaves from; None for the default mailbox (SMTP_URL, SMTP_FROM)."""
    sender: str | None = None
    """The mailbox's From header (None: SMTP_FROM)."""
    sender_name: str = ""
    """The mailbox's From name (its address when it has none), for `{{ sender.name }}`."""
    signature: str = ""
    """The mailbox's signature, put where the template wrote `{{ sender.signature }}`."""
    mailbox_version: str = ""
    mailbox_name: str = "default"
    """Changes whenever the mailbox does, so a sender rebuilds its relay."""
    taken: Taken | None = None
    """The send slots taken for it, given back if it never reaches the relay."""

    @classmethod
    def of(
        cls,
        content: Content,
        email: str,
        name: str,
        message_id: str,
        attempt: int,
        mailbox: Mailbox | None = None,
        taken: Taken | None = None,
    ) -> LeasedEmail:
        """The email of a content row, addressed to its contact, from its mailbox."""
        return cls(
            content_id=content.id,
            campaign_id=content.campaign_id,
            tier=content.tier,
            email=email,
            name=name,
            subject=content.subject,
            html=content.html,
            text=content.text,
            message_id=message_id,
            attempt=attempt,
            contact_id=content.contact_id,
            step=content.step,
            in_reply_to=content.in_reply_to,
            thread_refs=content.thread_refs,
            mailbox_id=mailbox.id if mailbox else None,
            sender=from_header(mailbox) if mailbox else None,
            sender_name=(mailbox.from_name or mailbox.from_address) if mailbox else "",
            signature=mailbox.signature if mailbox else "",
            mailbox_version=mailbox.updated_at.isoformat() if mailbox else "",
            mailbox_name=mailbox.name if mailbox else "default",
            taken=taken,
        )

    def thread_headers(self) -> dict[str, str]:
        """In-Reply-To and References of a follow-up sent as a reply; none otherwise."""
        if not self.in_reply_to:
            return {}
        return {"In-Reply-To": self.in_reply_to, "References": self.thread_refs or self.in_reply_to}


def message_domain(smtp_from: str) -> str:
    """The domain Message-IDs are made in: the From address's domain."""
    address = parseaddr(smtp_from)[1]
    return address.rpartition("@")[2] or "localhost"


def message_id_for(config: Config, content_id: int, mailbox: Mailbox | None = None) -> str:
    """The Message-ID of one email: the same for every send, retry and export of it, in
    the domain of the mailbox it leaves from (SMTP_FROM's for the default mailbox)."""
    sender = mailbox.from_address if mailbox is not None else config.smtp_from
    try:
        return make_message_id(content_id, message_domain(sender), secret=config.secret_key)
    except ValueError:  # the address has no usable domain
        return make_message_id(content_id, "localhost", secret=config.secret_key)
