"""Figures per step and per variant, and the A/B verdict on them.

A one-step sequence's figures are the campaign's counters (no counting). With
follow-ups or variants, unique human figures come from the contents (their
first human open, click and reply: one GROUP BY over the campaign's emails);
totals and machine/bot hits, which need the events joined to their email's
step, are counted only when asked for (`with_totals`, the API), never for a
page view. Each is shaped as the stats API's COUNTS.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import counters, get_campaign, summed
from webapp.campaigns.stats import counts_json
from webapp.core.models import Content, Event, Reply
from webapp.sequences.variants import Arm, label, probability_best, winner

Key = tuple[int, int]
"""(step, variant)"""


async def step_figures(
    session: AsyncSession, campaign_id: int, *, with_totals: bool = True
) -> dict[Key, dict[str, int]]:
    """Counter values (the stats API's names) per (step, variant) of a campaign."""
    figures: dict[Key, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(
            Content.step,
            Content.variant,
            func.count(Content.sent_at),
            func.count(Content.first_opened_at),
            func.count(Content.first_clicked_at),
            func.count(Content.replied_at),
            func.sum(case((Content.send_status == "bounced", 1), else_=0)),
        )
        .where(Content.campaign_id == campaign_id)
        .group_by(Content.step, Content.variant)
    )
    for step, variant, sent, opened, clicked, replied, bounced in rows:
        figures[(step, variant)].update(
            sent=int(sent),
            open_unique=int(opened),
            click_unique=int(clicked),
            reply=int(replied),
            bounce=int(bounced or 0),
        )
    if not with_totals:
        return dict(figures)
    events = await session.execute(
        select(Content.step, Content.variant, Event.kind, Event.flagged, func.count())
        .join(Content, Content.id == Event.content_id)
        .where(Event.campaign_id == campaign_id, Event.kind.in_(("open", "click", "unsubscribe")))
        .group_by(Content.step, Content.variant, Event.kind, Event.flagged)
    )
    for step, variant, kind, flagged, count in events:
        values = figures[(step, variant)]
        if kind == "unsubscribe":
            values["unsubscribe"] = values.get("unsubscribe", 0) + int(count)
            continue
        values[f"{kind}_total"] = values.get(f"{kind}_total", 0) + int(count)
        if flagged:
            name = "open_machine" if kind == "open" else "click_bot"
            values[name] = values.get(name, 0) + int(count)
    return dict(figures)


async def positive_replies(session: AsyncSession, campaign_id: int) -> dict[Key, int]:
    """Emails per (step, variant) with a reply read as positive: the rep's label when
    they corrected Tune's reading, else Tune's."""
    reading = func.coalesce(Reply.label, Reply.classification)
    rows = await session.execute(
        select(Content.step, Content.variant, func.count(distinct(Reply.content_id)))
        .join(Content, Content.id == Reply.content_id)
        .where(Reply.campaign_id == campaign_id, reading == "positive")
        .group_by(Content.step, Content.variant)
    )
    return {(step, variant): int(count) for step, variant, count in rows}


def step_counts(values: dict[str, int]) -> dict[str, Any]:
    """COUNTS with `positive_replies`."""
    return {**counts_json(values), "positive_replies": values.get("positive_reply", 0)}


def verdict(per_variant: list[dict[str, int]], metric: str) -> dict[str, Any]:
    """Probability each variant is best on `metric` (reply or click), and the winner if any."""
    success = "reply" if metric == "reply" else "click_unique"
    arms = [Arm(values.get("sent", 0), values.get(success, 0)) for values in per_variant]
    chances = probability_best(arms)
    best = winner(arms)
    return {
        "metric": metric,
        "probability_best": {label(i): round(p, 4) for i, p in enumerate(chances)},
        "winner": label(best) if best is not None else None,
    }


def variant_json(number: int, values: dict[str, int]) -> dict[str, Any]:
    return {"variant": label(number), "stats": step_counts(values)}


async def sequence_json(
    session: AsyncSession, campaign_id: int, *, with_totals: bool = True
) -> list[dict[str, Any]]:
    """The steps in order, each with its variants and COUNTS per step and per variant."""
    from webapp.sequences.steps import list_steps, step_json, variant_counts

    campaign = await get_campaign(session, campaign_id)
    steps = await list_steps(session, campaign_id)
    counts = await variant_counts(session, [step.id for step in steps])
    if len(steps) == 1 and counts[steps[0].id] == 1:
        figures = {(1, 0): summed((await counters(session, [campaign_id]))[campaign_id])}
    else:
        figures = await step_figures(session, campaign_id, with_totals=with_totals)
    for key, count in (await positive_replies(session, campaign_id)).items():
        figures.setdefault(key, {})["positive_reply"] = count
    result = []
    for step in steps:
        per_variant = [figures.get((step.position, v), {}) for v in range(counts[step.id])]
        entry = step_json(step)
        entry["variants"] = [variant_json(v, values) for v, values in enumerate(per_variant)]
        entry["stats"] = step_counts(summed(dict(enumerate(per_variant))))
        entry["ab_test"] = (
            verdict(per_variant, campaign.winner_metric) if len(per_variant) > 1 else None
        )
        result.append(entry)
    return result
