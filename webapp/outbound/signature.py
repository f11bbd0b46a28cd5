"""The `{{ sender.signature }}` and `{{ sender.name }}` merge fields: filled in with the
sending mailbox's signature and From name.

Emails are written (rendered and tracked) before the sender knows which mailbox
each one leaves from: the mailbox is chosen when the email is leased, by remaining
capacity. So the fields render as placeholders that survive the tracking rewrite
and the text version, and `sign` swaps them for the mailbox's signature (plain text:
escaped, line breaks kept, in the HTML part) and name just before the message is
built. A filter applied to the field in a template (`{{ sender.name|upper }}`)
works on the placeholder, not the name: use the field plain.
"""

from __future__ import annotations

from markupsafe import escape

PLACEHOLDER = "tune-signature-c4a1e0"
NAME_PLACEHOLDER = "tune-sender-name-5e8f02"


def sign(html: str, text: str, signature: str, name: str = "") -> tuple[str, str]:
    """The HTML and text parts with the placeholders replaced by `signature` and `name`."""
    if NAME_PLACEHOLDER in html or NAME_PLACEHOLDER in text:
        html = html.replace(NAME_PLACEHOLDER, str(escape(name)))
        text = text.replace(NAME_PLACEHOLDER, name)
    if PLACEHOLDER not in html and PLACEHOLDER not in text:
        return html, text
    signature = signature.strip()
    html_signature = "<br>\n".join(str(escape(line)) for line in signature.splitlines())
    return html.replace(PLACEHOLDER, html_signature), text.replace(PLACEHOLDER, signature)


def named(subject: str, name: str) -> str:
    """A subject with `{{ sender.name }}`'s placeholder replaced by `name`."""
    return subject.replace(NAME_PLACEHOLDER, name)
