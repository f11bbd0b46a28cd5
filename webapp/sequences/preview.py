"""The thread a contact will see at one step: this step's email above the earlier ones.

Used by the step template editor as the user types: the edited template is
checked and rendered for a sample contact, and the earlier steps (step 1's tier
template, then each enabled follow-up's variant A) are rendered below it with
the subjects the contact will see (`Re: <step 1 subject>` for a reply).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.isolation import check_template, render_emails
from webapp.outbound.templates.sandbox import EmailTemplate
from webapp.sequences.scheduler import reply_subject
from webapp.sequences.steps import list_steps, load_templates


async def thread_preview(
    session: AsyncSession,
    campaign_id: int,
    position: int,
    tier: int,
    template: EmailTemplate,
    context: dict[str, Any],
) -> dict[str, Any]:
    """`{"thread": [{step, subject, html}, ...]}` newest first, or the template's error."""
    try:
        current = await check_template(
            template.subject, template.html, context, template_format=template.format
        )
    except ValidationFailed as error:
        return {"error": error.message, "field": error.field, "line": error.details.get("line")}
    assert current is not None  # a context was given
    shown_tier = tier or 1
    steps = await list_steps(session, campaign_id)
    before = [s for s in steps if s.position < position and s.enabled]
    picked = [(await load_templates(session, step)).pick(0, shown_tier) for step in before]
    rendered = (
        await render_emails(dict(enumerate(picked)), [(i, context) for i in range(len(picked))])
        if picked
        else []
    )
    earlier: list[dict[str, Any]] = []
    first_subject = current.subject
    for step, email in zip(before, rendered, strict=True):
        if step.position == 1:
            first_subject = email.subject
        subject = reply_subject(first_subject) if step.as_reply and earlier else email.subject
        earlier.append({"step": step.position, "subject": subject, "html": email.html})
    this_step = next(s for s in steps if s.position == position)
    subject = reply_subject(first_subject) if this_step.as_reply and earlier else current.subject
    thread = [{"step": position, "subject": subject, "html": current.html}, *reversed(earlier)]
    return {"thread": thread}
