"""A campaign's sequence steps, their per-tier templates and their A/B variants.

Step 1 is the campaign's first email: its variant A uses the campaign's per-tier
templates (`templates`), unchanged. A later step's template for a tier falls
back to the step's all-tier template (tier 0, written `all`), then to variant
A's. Steps are numbered from 1; a step that has sent anything keeps its number
(it cannot be deleted or moved, only disabled), so `contents.step` stays true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import isodate
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.errors import Conflict, NotFound, ValidationFailed
from webapp.core.models import (
    Content,
    Enrollment,
    SequenceStep,
    SequenceVariant,
    StepTemplate,
)
from webapp.outbound.contents import save_template, templates_of
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES
from webapp.outbound.templates.isolation import check_template
from webapp.outbound.templates.sandbox import EmailTemplate
from webapp.prospects.queries import parse_tier
from webapp.sequences.variants import LABELS, MAX_VARIANTS

CONDITIONS = ("no_reply", "no_reply_no_open", "opened_no_reply", "clicked_no_reply")
MAX_STEPS = 10
MAX_DELAY = timedelta(days=365)
ALL_TIERS = 0
REOPEN_BATCH = 1000

FOLLOW_UP_TEMPLATE = EmailTemplate(
    "Re: {{ campaign.name }}",
    "<p>Hi {{ contact.first_name or 'there' }},</p>\n"
    "<p>Following up on my note below in case it got buried. Would a short call make sense?</p>\n"
    "<p>{{ sender.name }}</p>\n",
)
"""What a new follow-up says until its templates are written."""


def parse_delay(value: object) -> tuple[str, int]:
    """An ISO 8601 duration in days, hours, minutes or seconds ("P3D", "PT4H", "PT5S")."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("delay: an ISO 8601 duration such as P3D or PT4H", field="delay")
    text = value.strip().upper()
    try:
        parsed = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        raise ValidationFailed(
            f"delay: {value!r} is not an ISO 8601 duration (P3D, PT4H, PT30S)", field="delay"
        ) from None
    if not isinstance(parsed, timedelta):
        raise ValidationFailed("delay: give months and years as days (P30D)", field="delay")
    if parsed < timedelta(0) or parsed > MAX_DELAY:
        raise ValidationFailed("delay: between PT0S and P365D", field="delay")
    return text, int(parsed.total_seconds())


def parse_condition(value: object) -> str:
    if value not in CONDITIONS:
        raise ValidationFailed(f"condition: one of {', '.join(CONDITIONS)}", field="condition")
    return str(value)


def parse_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field}: true or false", field=field)
    return value


def parse_variant(value: object) -> int:
    """A variant label, A to D."""
    if not isinstance(value, str) or value.upper() not in LABELS:
        raise ValidationFailed(f"variant: one of {', '.join(LABELS)}", field="variant")
    return LABELS.index(value.upper())


def parse_step_tier(value: object) -> int:
    """1, 2, 3, or `all` (0)."""
    if isinstance(value, str) and value.lower() == "all":
        return ALL_TIERS
    try:
        return parse_tier(value)
    except ValidationFailed:
        raise ValidationFailed("tier must be 1, 2, 3 or all", field="tier") from None


async def ensure_first_step(session: AsyncSession, campaign_id: int) -> SequenceStep:
    """Step 1 of the campaign, created when the campaign predates sequences."""
    first = await session.scalar(
        select(SequenceStep).where(
            SequenceStep.campaign_id == campaign_id, SequenceStep.position == 1
        )
    )
    if first is None:
        first = _first_step(campaign_id)
        session.add(first)
        await session.flush()
    return first


async def list_steps(session: AsyncSession, campaign_id: int) -> list[SequenceStep]:
    """The campaign's steps in order; step 1 always among them (unsaved if it has no row)."""
    await get_campaign(session, campaign_id)
    rows = list(
        await session.scalars(
            select(SequenceStep)
            .where(SequenceStep.campaign_id == campaign_id)
            .order_by(SequenceStep.position)
        )
    )
    if not rows or rows[0].position != 1:
        rows.insert(0, _first_step(campaign_id))
    return rows


def _first_step(campaign_id: int) -> SequenceStep:
    return SequenceStep(
        campaign_id=campaign_id,
        position=1,
        delay="PT0S",
        delay_seconds=0,
        condition="no_reply",
        as_reply=False,
        enabled=True,
    )


async def get_step(
    session: AsyncSession, campaign_id: int, position: int, *, create: bool = False
) -> SequenceStep:
    """One step; `create` saves step 1 of a campaign that has no row for it yet."""
    await get_campaign(session, campaign_id)
    if position == 1:
        if create:
            return await ensure_first_step(session, campaign_id)
        return (await list_steps(session, campaign_id))[0]
    step = await session.scalar(
        select(SequenceStep).where(
            SequenceStep.campaign_id == campaign_id, SequenceStep.position == position
        )
    )
    if step is None:
        raise NotFound(f"campaign {campaign_id} has no step {position}")
    return step


async def add_step(
    session: AsyncSession,
    campaign_id: int,
    delay: object,
    condition: object = "no_reply",
    as_reply: object = True,
) -> SequenceStep:
    """Append a follow-up; contacts who had finished the sequence go on to it."""
    delay_text, seconds = parse_delay(delay)
    await ensure_first_step(session, campaign_id)
    steps = await list_steps(session, campaign_id)
    if len(steps) >= MAX_STEPS:
        raise Conflict(f"a sequence has at most {MAX_STEPS} steps")
    step = SequenceStep(
        campaign_id=campaign_id,
        position=steps[-1].position + 1,
        delay=delay_text,
        delay_seconds=seconds,
        condition=parse_condition(condition),
        as_reply=parse_bool(as_reply, "as_reply"),
        enabled=True,
    )
    session.add(step)
    await session.flush()
    await _reopen_finished(session, campaign_id, seconds)
    return step


async def _reopen_finished(session: AsyncSession, campaign_id: int, delay_seconds: int) -> None:
    """Contacts who had finished the sequence are due for the new last step."""
    after = 0
    while True:
        rows = (
            await session.execute(
                select(Enrollment.id, Enrollment.last_sent_at)
                .where(
                    Enrollment.campaign_id == campaign_id,
                    Enrollment.status == "finished",
                    Enrollment.last_sent_at.is_not(None),
                    Enrollment.id > after,
                )
                .order_by(Enrollment.id)
                .limit(REOPEN_BATCH)
            )
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        await session.execute(
            update(Enrollment),
            [
                {
                    "id": row_id,
                    "status": "active",
                    "due_at": last_sent + timedelta(seconds=delay_seconds),
                }
                for row_id, last_sent in rows
                if last_sent is not None
            ],
        )


def step_json(step: SequenceStep) -> dict[str, Any]:
    """A step without its figures (step 1 has no delay or condition: it is the first email)."""
    first = step.position == 1
    return {
        "step": step.position,
        "delay": None if first else step.delay,
        "delay_seconds": None if first else step.delay_seconds,
        "condition": None if first else step.condition,
        "as_reply": step.as_reply,
        "enabled": step.enabled,
    }


async def has_sent(session: AsyncSession, campaign_id: int, positions: list[int]) -> bool:
    """Whether any email of these steps was written for anyone (sent or on its way)."""
    found = await session.scalar(
        select(Content.id)
        .where(Content.campaign_id == campaign_id, Content.step.in_(positions))
        .limit(1)
    )
    return found is not None


async def update_step(
    session: AsyncSession, campaign_id: int, position: int, changes: dict[str, Any]
) -> SequenceStep:
    """Change a step's delay, condition, as_reply, enabled, or move it (`position`)."""
    step = await get_step(session, campaign_id, position, create=True)
    if position == 1 and set(changes) & {"delay", "condition", "position"}:
        raise ValidationFailed("step 1 is the first email: it has no delay, condition or place")
    if "delay" in changes:
        step.delay, step.delay_seconds = parse_delay(changes["delay"])
    if "condition" in changes:
        step.condition = parse_condition(changes["condition"])
    if "as_reply" in changes:
        step.as_reply = parse_bool(changes["as_reply"], "as_reply")
    if "enabled" in changes:
        enabled = parse_bool(changes["enabled"], "enabled")
        if position == 1 and not enabled:
            raise ValidationFailed("step 1 cannot be disabled", field="enabled")
        step.enabled = enabled
    if "position" in changes:
        await _move(session, campaign_id, step, changes["position"])
    await session.flush()
    return step


async def _move(
    session: AsyncSession, campaign_id: int, step: SequenceStep, target: object
) -> None:
    steps = await list_steps(session, campaign_id)
    last = steps[-1].position
    if isinstance(target, bool) or not isinstance(target, int) or not 2 <= target <= last:
        raise ValidationFailed(f"position: a step number from 2 to {last}", field="position")
    low, high = sorted((step.position, target))
    if await has_sent(session, campaign_id, list(range(low, high + 1))):
        raise Conflict("steps that have sent emails keep their place; disable them instead")
    order = [s for s in steps if s.id != step.id]
    order.insert(target - 1, step)
    # Two passes so the unique (campaign, position) never sees a duplicate.
    for s in order:
        s.position = -s.position if s.position > 0 else s.position
    await session.flush()
    for number, s in enumerate(order, start=1):
        s.position = number
    await session.flush()


async def delete_step(session: AsyncSession, campaign_id: int, position: int) -> None:
    """Delete a follow-up that has sent nothing; later steps move up one."""
    step = await get_step(session, campaign_id, position)
    if position == 1:
        raise Conflict("step 1 is the first email and cannot be deleted")
    steps = await list_steps(session, campaign_id)
    later = [s.position for s in steps if s.position >= position]
    if await has_sent(session, campaign_id, later):
        raise Conflict(f"step {position} or a later one has sent emails: disable it instead")
    await session.delete(step)
    await session.flush()
    for s in steps:
        if s.position > position:
            s.position -= 1
            await session.flush()


async def variant_count(session: AsyncSession, step_id: int | None) -> int:
    if step_id is None:
        return 1
    count = await session.scalar(
        select(func.count()).select_from(SequenceVariant).where(SequenceVariant.step_id == step_id)
    )
    return max(int(count or 0), 1)


async def variant_counts(
    session: AsyncSession, step_ids: list[int | None]
) -> dict[int | None, int]:
    rows = await session.execute(
        select(SequenceVariant.step_id, func.count())
        .where(SequenceVariant.step_id.in_(step_ids))
        .group_by(SequenceVariant.step_id)
    )
    found: dict[int | None, int] = {step_id: int(count) for step_id, count in rows}
    return {step_id: max(found.get(step_id, 0), 1) for step_id in step_ids}


async def save_step_template(
    session: AsyncSession,
    campaign_id: int,
    position: int,
    tier: object,
    subject: object,
    html: object,
    variant: object = "A",
) -> SavedTemplate:
    """Validate (as the dashboard does) and store one template of a step; adds the variant.

    Step 1 variant A is the campaign's tier template (`contents.save_template`).
    """
    step = await get_step(session, campaign_id, position, create=True)
    tier_number = parse_step_tier(tier)
    variant_number = parse_variant(variant)
    if not isinstance(subject, str):
        raise ValidationFailed("subject is required", field="subject")
    if not isinstance(html, str):
        raise ValidationFailed("html is required", field="html")
    if position == 1 and variant_number == 0:
        if tier_number == ALL_TIERS:
            raise ValidationFailed(
                "step 1 variant A has one template per tier: give tier 1, 2 or 3", field="tier"
            )
        first = await save_template(session, campaign_id, tier_number, subject, html)
        return SavedTemplate(1, tier_number, 0, first.subject, first.html)
    await check_template(subject, html)
    await _ensure_variants(session, step, variant_number)
    row = await session.scalar(
        select(StepTemplate).where(
            StepTemplate.step_id == step.id,
            StepTemplate.variant == variant_number,
            StepTemplate.tier == tier_number,
        )
    )
    if row is None:
        row = StepTemplate(
            step_id=step.id, variant=variant_number, tier=tier_number, subject=subject, html=html
        )
        session.add(row)
    else:
        row.subject, row.html = subject, html
    await session.flush()
    return SavedTemplate(position, tier_number, variant_number, subject, html)


@dataclass(frozen=True)
class SavedTemplate:
    """A template as stored for one step, tier (0: all) and variant (0: A)."""

    step: int
    tier: int
    variant: int
    subject: str
    html: str

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tier": "all" if self.tier == ALL_TIERS else str(self.tier),
            "variant": LABELS[self.variant],
            "subject": self.subject,
            "html": self.html,
        }


async def _ensure_variants(session: AsyncSession, step: SequenceStep, variant: int) -> None:
    """Variants exist as a prefix A..variant: adding C also adds B."""
    if variant >= MAX_VARIANTS:
        raise ValidationFailed(f"a step has at most {MAX_VARIANTS} variants", field="variant")
    have = set(
        await session.scalars(
            select(SequenceVariant.variant).where(SequenceVariant.step_id == step.id)
        )
    )
    if variant == 0 and not have:
        return
    for number in range(variant + 1):
        if number not in have:
            session.add(SequenceVariant(step_id=step.id, variant=number))
    await session.flush()


async def remove_variant(session: AsyncSession, campaign_id: int, position: int) -> None:
    """Drop a step's last variant and its templates (only while the step has sent nothing)."""
    step = await get_step(session, campaign_id, position)
    count = await variant_count(session, step.id)
    if count <= 1:
        raise Conflict("the step has a single variant")
    if await has_sent(session, campaign_id, [position]):
        raise Conflict("the step has sent emails: its variants stay until it is done")
    last = count - 1
    await session.execute(
        delete(StepTemplate).where(StepTemplate.step_id == step.id, StepTemplate.variant == last)
    )
    remaining = last if last > 1 else 0
    await session.execute(
        delete(SequenceVariant).where(
            SequenceVariant.step_id == step.id, SequenceVariant.variant >= remaining
        )
    )


@dataclass(frozen=True)
class StepTemplates:
    """Everything needed to pick the template of (variant, tier) for one step."""

    step: SequenceStep
    variants: int
    rows: dict[tuple[int, int], EmailTemplate]
    first_email: dict[int, EmailTemplate]
    """Step 1 variant A: the campaign's per-tier templates."""

    def pick(self, variant: int, tier: int) -> EmailTemplate:
        for v in dict.fromkeys((variant, 0)):
            if self.step.position == 1 and v == 0:
                return self.first_email.get(tier) or DEFAULT_TEMPLATES[tier]
            found = self.rows.get((v, tier)) or self.rows.get((v, ALL_TIERS))
            if found is not None:
                return found
        return FOLLOW_UP_TEMPLATE


async def load_templates(session: AsyncSession, step: SequenceStep) -> StepTemplates:
    rows = (
        await session.scalars(select(StepTemplate).where(StepTemplate.step_id == step.id))
        if step.id is not None
        else []
    )
    first: dict[int, EmailTemplate] = {}
    if step.position == 1:
        first = {
            tier: EmailTemplate(row.subject, row.html, row.format)
            for tier, row in (await templates_of(session, step.campaign_id)).items()
        }
    return StepTemplates(
        step=step,
        variants=await variant_count(session, step.id),
        rows={(r.variant, r.tier): EmailTemplate(r.subject, r.html) for r in rows},
        first_email=first,
    )


async def template_rows(session: AsyncSession, step_id: int) -> list[StepTemplate]:
    rows = await session.scalars(
        select(StepTemplate)
        .where(StepTemplate.step_id == step_id)
        .order_by(StepTemplate.variant, StepTemplate.tier)
    )
    return list(rows)
