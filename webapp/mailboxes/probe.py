"""`tune mailboxes test`: does the mailbox's relay take a login, does its inbox open?"""

from __future__ import annotations

from webapp.core.config import Config
from webapp.core.models import Mailbox
from webapp.core.sealing import SecretUnreadable
from webapp.inbox.mailbox import Mailbox as Inbox
from webapp.inbox.mailbox import MailboxError, oauth2_token
from webapp.mailboxes.store import imap_url, smtp_settings
from webapp.outbound.smtp.outcomes import DeliveryOutcome
from webapp.outbound.smtp.relay import SmtpRelay


async def probe(config: Config, mailbox: Mailbox) -> list[tuple[str, bool, str]]:
    """(part, works, detail) for SMTP and, when the mailbox has one, IMAP. No secret in any."""
    results: list[tuple[str, bool, str]] = []
    try:
        settings = smtp_settings(config, mailbox)
    except SecretUnreadable as exc:
        return [("smtp", False, str(exc))]
    relay = SmtpRelay(settings)
    answer = await relay.check()
    results.append(
        (
            "smtp",
            answer.outcome is DeliveryOutcome.SENT,
            f"{settings.redacted_url()}: {answer.detail}",
        )
    )
    if mailbox.imap_url:
        try:
            url = imap_url(config, mailbox)
        except Exception as exc:  # an unreadable password or a bad URL: say so
            results.append(("imap", False, str(exc)))
            return results
        assert url is not None
        inbox = Inbox(url, timeout=15.0)
        try:
            token = None
            if url.xoauth2 and config.imap_oauth2_token_command:
                token = await oauth2_token(config.imap_oauth2_token_command)
            folder = await inbox.open(token)
            detail = f"{url.redacted()}: folder open" + (", IDLE" if folder.idle else "")
            results.append(("imap", True, detail))
        except MailboxError as exc:
            results.append(("imap", False, f"{url.redacted()}: {exc}"))
        finally:
            await inbox.close()
    return results
