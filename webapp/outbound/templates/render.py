"""Per-tier email templates: validate one on save, render one contact's email.

Users write templates; Tune renders them once per contact, tens of thousands of
times per campaign. So rendering must be safe and forgiving at once: it runs in
the sandbox (`sandbox.py`, with the size guards of `guards.py`), where a missing
merge field renders as "" so one contact without a title does not stop a send,
while typos are caught earlier: `validate_template` rejects unknown merge
fields when the template is saved.

These functions run the template in the calling process. The web app and the
content generator call them through `isolation.py`, which runs them in worker
processes with hard CPU, memory and time limits, off the event loop.

The HTML body is autoescaped; the subject is a mail header, rendered without
escaping and with every line break and control character removed. A Markdown
body (`markdown.py`) is rendered as text, then made safe HTML.

Text typed after `</html>` (or `</body>`) belongs to the email, not after it:
`tidy_document` moves it inside the body, before the unsubscribe footer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.defaults import SAMPLE_CONTEXT
from webapp.outbound.templates.markdown import markdown_to_html, markdown_to_text
from webapp.outbound.templates.sandbox import (
    FORMATS,
    EmailTemplate,
    RenderedEmail,
    check_merge_fields,
    compile_field,
    parse,
    render_field,
)

MAX_TEMPLATE_BYTES = 200_000
MAX_SUBJECT_CHARS = 300


def body_field(template_format: str) -> str:
    """The field name a body's errors carry: "html", or "markdown" for a Markdown body."""
    if template_format not in FORMATS:
        raise ValidationFailed(f"format must be one of: {', '.join(FORMATS)}", field="format")
    return "markdown" if template_format == "markdown" else "html"


def validate_template(subject: str, html: str, template_format: str = "html") -> None:
    """Refuse a template that would not compile, is unsafe, uses unknown fields or fails to render.

    Raises `ValidationFailed` with `field` "subject" or "html" and, where it
    applies, `line` in the details ("html line 3: unexpected '}'").
    """
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ValidationFailed(
            f"subject is longer than {MAX_SUBJECT_CHARS} characters", field="subject"
        )
    body = body_field(template_format)
    if len(html.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise ValidationFailed(f"{body} is larger than {MAX_TEMPLATE_BYTES // 1000} kB", field=body)
    for field, source in (("subject", subject), (body, html)):
        compile_field(source, field)
        check_merge_fields(parse(source, field), field)
    rendered_subject = render_field(subject, "subject", SAMPLE_CONTEXT)
    render_field(html, body, SAMPLE_CONTEXT)
    if not clean_subject(rendered_subject):
        raise ValidationFailed("subject renders empty", field="subject")


def render_email(template: EmailTemplate, context: Mapping[str, object]) -> RenderedEmail:
    """Render subject and body for one contact; `ValidationFailed` if the template misbehaves."""
    subject = clean_subject(render_field(template.subject, "subject", context))
    if body_field(template.format) == "markdown":
        source = render_field(template.html, "markdown", context)
        return RenderedEmail(
            subject=subject, html=markdown_to_html(source), text=markdown_to_text(source)
        )
    html = render_field(template.html, "html", context)
    return RenderedEmail(subject=subject, html=tidy_document(html))


_CLOSING_TAG = re.compile(r"</(body|html)\s*>", re.IGNORECASE)


def tidy_document(html: str) -> str:
    """Move anything typed after `</body>` or `</html>` inside the body, at its end.

    Browsers show such text anyway, but after the footer Tune adds before `</body>`
    (unsubscribe link, pixel); a rep who typed a P.S. after `</html>` means it to be
    part of the email. Only whitespace and comments may follow the document.
    """
    closing = [match for match in _CLOSING_TAG.finditer(html)]
    if not closing:
        return html
    first = closing[0]
    tail = html[first.start() :]
    trailing = _CLOSING_TAG.sub("", tail)
    if not _visible(trailing):
        return html
    closers = "".join(match.group(0) for match in _CLOSING_TAG.finditer(tail))
    body = html[: first.start()]
    if not body.endswith("\n") and not trailing.startswith("\n"):
        body += "\n"
    return f"{body}{trailing.strip()}\n{closers}\n"


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _visible(text: str) -> bool:
    return bool(_COMMENT.sub("", text).strip())


_HEADER_BREAKS = re.compile(r"\s+")


def clean_subject(subject: str) -> str:
    """One header-safe line: control and line-separator characters become spaces."""
    visible = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in subject
    )
    return _HEADER_BREAKS.sub(" ", visible).strip()[:MAX_SUBJECT_CHARS]
