"""Sequence conditions see a click or open only once its classification has settled."""

from __future__ import annotations

from datetime import timedelta

from tests.support.factories import make_recipient
from webapp.core.models import utcnow
from webapp.sequences import rules
from webapp.tracking import settle
from webapp.web.services import Services


async def test_clicked_no_reply_waits_for_the_click_to_settle(tune: Services) -> None:
    clicked_at = utcnow()
    async with tune.db.write() as session:
        content = await make_recipient(
            session, sent_at=clicked_at - timedelta(hours=1),
            first_opened_at=clicked_at, first_clicked_at=clicked_at,
        )  # fmt: skip
    pair = [(content.contact_id, content.prospect_id)]
    settle.configure(60)
    async with tune.db.read() as session:
        soon = await rules.gather_facts(
            session, pair, [content], clicked_at + timedelta(seconds=30)
        )
        later = await rules.gather_facts(
            session, pair, [content], clicked_at + timedelta(seconds=61)
        )
    fact_soon, fact_later = soon[content.contact_id], later[content.contact_id]
    assert not rules.condition_met("clicked_no_reply", fact_soon)
    assert not rules.condition_met("opened_no_reply", fact_soon)
    assert rules.condition_met("clicked_no_reply", fact_later)
    assert rules.condition_met("opened_no_reply", fact_later)
