"""One prospect by plain SQL (`prospects/detail.py`) against the ORM reads the route made
before (`tests/support/prospectdetail.orm_detail`: the prospect, its emails, timeline,
replies and `control.positions`): the same answer for every sequence state, with and
without the account-level stop, for a bare prospect, and the same 404; in four statements
sent together and no session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import make_campaign, make_prospect
from tests.support.prospectdetail import busy_prospect, orm_detail
from webapp.core.errors import NotFound
from webapp.prospects import detail
from webapp.web.api.prospects import ProspectDetail
from webapp.web.services import Services


@pytest.mark.parametrize("account_stop", [True, False])
async def test_a_busy_prospect_is_what_the_orm_reads_gave(
    tune: Services, account_stop: bool
) -> None:
    built = await busy_prospect(tune, account_stop=account_stop)
    expected = await orm_detail(tune, built.prospect_id)
    found = ProspectDetail.model_validate(await detail.read_prospect(tune.db, built.prospect_id))
    assert found.model_dump_json() == expected.model_dump_json()
    going = "colleague_replied" if account_stop else "active"
    assert [(place.status, place.stop_reason) for place in found.sequence] == [
        ("stopped" if account_stop else "active", going if account_stop else None),
        ("stopped", going) if account_stop else ("paused", None),
        ("stopped", "stopped_by_rep"),
        ("not_enrolled", None),
        ("stopped", "replied"),
        ("stopped", "unsubscribed"),
        ("stopped", "bounced"),
        ("stopped", "complained"),
    ]
    assert [(event.kind, event.source) for event in found.events][:2] == [
        ("note", "rep"),
        ("reply", "rep"),
    ]
    assert "replied" not in [event.kind for event in found.events]  # behind its reply event
    assert [reply.corrected for reply in found.replies] == [False, True, False]
    assert found.name == 'Zoë & Co — ünïcode "quoted" <b>'


async def test_a_prospect_with_nothing_yet_and_a_missing_one(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, "Leer", domain=None)
    found = ProspectDetail.model_validate(await detail.read_prospect(tune.db, prospect.id))
    assert found == await orm_detail(tune, prospect.id)
    assert (found.contacts, found.contents, found.events, found.replies, found.sequence) == (
        [],
        [],
        [],
        [],
        [],
    )
    with pytest.raises(NotFound) as missing:
        await detail.read_prospect(tune.db, prospect.id + 1000)
    with pytest.raises(NotFound) as orm_missing:
        await orm_detail(tune, prospect.id + 1000)
    assert missing.value.to_dict() == orm_missing.value.to_dict()


async def test_the_read_is_four_statements_sent_together_without_a_session(
    tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = await busy_prospect(tune)
    sent: list[int] = []
    fetch_each = tune.db.fetch_each

    async def counted(statements: list[tuple[str, tuple[Any, ...]]]) -> Any:
        sent.append(len(statements))
        return await fetch_each(statements)

    def no_session() -> Any:
        raise AssertionError("the read opened a session")

    monkeypatch.setattr(tune.db, "fetch_each", counted)
    monkeypatch.setattr(tune.db, "read", no_session)
    await detail.read_prospect(tune.db, built.prospect_id)
    assert sent == [4]
