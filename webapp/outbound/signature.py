"""The `{{ sender.signature }}` merge field: filled in with the sending mailbox's signature.

Emails are written (rendered and tracked) before the sender knows which mailbox
each one leaves from: the mailbox is chosen when the email is leased, by remaining
capacity. So the field renders as a placeholder that survives the tracking rewrite
and the text version, and `sign` swaps it for the mailbox's signature (plain text:
escaped, line breaks kept, in the HTML part) just before the message is built.
"""

from __future__ import annotations

from markupsafe import escape

PLACEHOLDER = "tune-signature-c4a1e0"


def sign(html: str, text: str, signature: str) -> tuple[str, str]:
    """The HTML and text parts with the placeholder replaced by `signature`."""
    if PLACEHOLDER not in html and PLACEHOLDER not in text:
        return html, text
    signature = signature.strip()
    html_signature = "<br>\n".join(str(escape(line)) for line in signature.splitlines())
    return html.replace(PLACEHOLDER, html_signature), text.replace(PLACEHOLDER, signature)
