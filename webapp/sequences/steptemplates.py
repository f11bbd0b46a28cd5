"""A sequence step's templates per tier and its A/B variants, and picking the one to send.

Step 1 is the campaign's first email: its variant A uses the campaign's per-tier
templates (`outbound.contents`), unchanged. A later step's template for a tier
falls back to the step's all-tier template (tier 0, written `all`), then to
variant A's, then to a plain follow-up. Variants exist as a prefix (A, A-B,
A-C, A-D) and change only while the step has sent nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import Conflict, ValidationFailed
from webapp.core.models import SequenceStep, SequenceVariant, StepTemplate
from webapp.outbound.contents import save_template, templates_of
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES
from webapp.outbound.templates.isolation import check_template
from webapp.outbound.templates.sandbox import EmailTemplate
from webapp.sequences.stepcrud import get_step, has_sent
from webapp.sequences.stepinput import ALL_TIERS, parse_step_tier, parse_variant
from webapp.sequences.variants import LABELS, MAX_VARIANTS

FOLLOW_UP_TEMPLATE = EmailTemplate(
    "Re: {{ campaign.name }}",
    "<p>Hi {{ contact.first_name or 'there' }},</p>\n"
    "<p>Following up on my note below in case it got buried. Would a short call make sense?</p>\n"
    "<p>{{ sender.name }}</p>\n",
)
"""What a new follow-up says until its templates are written."""


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
