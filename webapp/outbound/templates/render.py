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
escaping and with every line break and control character removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.defaults import SAMPLE_CONTEXT
from webapp.outbound.templates.sandbox import (
    EmailTemplate,
    RenderedEmail,
    check_merge_fields,
    compile_field,
    parse,
    render_field,
)

MAX_TEMPLATE_BYTES = 200_000
MAX_SUBJECT_CHARS = 300


def validate_template(subject: str, html: str) -> None:
    """Refuse a template that would not compile, is unsafe, uses unknown fields or fails to render.

    Raises `ValidationFailed` with `field` "subject" or "html" and, where it
    applies, `line` in the details ("html line 3: unexpected '}'").
    """
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ValidationFailed(
            f"subject is longer than {MAX_SUBJECT_CHARS} characters", field="subject"
        )
    if len(html.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise ValidationFailed(f"html is larger than {MAX_TEMPLATE_BYTES // 1000} kB", field="html")
    for field, source in (("subject", subject), ("html", html)):
        compile_field(source, field)
        check_merge_fields(parse(source, field), field)
    rendered_subject = render_field(subject, "subject", SAMPLE_CONTEXT)
    render_field(html, "html", SAMPLE_CONTEXT)
    if not clean_subject(rendered_subject):
        raise ValidationFailed("subject renders empty", field="subject")


def render_email(template: EmailTemplate, context: Mapping[str, object]) -> RenderedEmail:
    """Render subject and body for one contact; `ValidationFailed` if the template misbehaves."""
    subject = render_field(template.subject, "subject", context)
    html = render_field(template.html, "html", context)
    return RenderedEmail(subject=clean_subject(subject), html=html)


_HEADER_BREAKS = re.compile(r"\s+")


def clean_subject(subject: str) -> str:
    """One header-safe line: control and line-separator characters become spaces."""
    visible = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in subject
    )
    return _HEADER_BREAKS.sub(" ", visible).strip()[:MAX_SUBJECT_CHARS]
