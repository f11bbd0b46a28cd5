"""The tracking fast path's own parts: what it keeps for tokens seen again.

What both paths answer is checked in tests/web/test_track.py; here, that a link
clicked again is answered from the answer kept for its token exactly as the first
time, that a pixel fetched again is recorded without checking its token again, that
only a token that verified is kept, and that nothing kept outlives the app start that
verified it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import delete, select

from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.models import Event, Link
from webapp.tracking.hits import LinkCache
from webapp.tracking.links import LinkReads
from webapp.web.services import Services
from webapp.web.tracklayer import KeptTokens

URL = "https://example.com/a?x=1&y=2"


async def a_link(tune: Services) -> tuple[int, str]:
    """An email with one link to `URL`: its content id and the link's click path."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, name="Bellagio", tier=1)
        contact = await make_contact(session, prospect, email="ann@bellagio.example")
        content = await make_content(session, contact, urls=(URL,))
        content_id = content.id
    return content_id, f"/t/c/{tune.signer.click_token(content_id, 0)}"


async def opens(tune: Services) -> list[int]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Event.content_id).where(Event.kind == "open").order_by(Event.id)
        )
        return list(rows)


def counted_reads(tune: Services, monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The tokens the signer's `name` (`read_open`, `read_click`) checks from now on."""
    read = getattr(tune.signer, name)
    checked: list[str] = []

    def counted(token: str) -> Any:
        checked.append(token)
        return read(token)

    monkeypatch.setattr(tune.signer, name, counted)
    return checked


async def clicks(tune: Services) -> list[tuple[int, int | None]]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Event.content_id, Event.link_id).where(Event.kind == "click").order_by(Event.id)
        )
        return [(row[0], row[1]) for row in rows]


def without_request_id(headers: Any) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers.items() if name.lower() != "x-request-id"]


async def test_a_link_clicked_again_is_answered_as_the_first_time_without_reading_its_token(
    app: Quart, tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    content_id, path = await a_link(tune)
    async with tune.db.read() as session:
        link_id = await session.scalar(select(Link.id).where(Link.content_id == content_id))
    verified = counted_reads(tune, monkeypatch, "read_click")
    asgi = AsgiClient(app)
    answers = [await asgi.get(path) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [302] * 3
    assert {answer.headers["Location"] for answer in answers} == {URL}
    assert len({answer.headers["X-Request-Id"] for answer in answers}) == 3
    first = without_request_id(answers[0].headers)
    assert all(without_request_id(answer.headers) == first for answer in answers)
    assert len({await answer.get_data() for answer in answers}) == 1
    assert len(verified) == 1  # the token's HMAC checked once, for the first click
    assert await clicks(tune) == [(content_id, link_id)] * 3


async def test_answers_kept_for_one_start_are_not_given_after_the_next(
    app: Quart, tune: Services
) -> None:
    """A link gone by the next start (new services, new link cache): read again, so 404."""
    content_id, path = await a_link(tune)
    asgi = AsgiClient(app)
    assert (await asgi.get(path)).status_code == 302
    async with tune.db.write() as session:
        await session.execute(delete(Event))
        await session.execute(delete(Link).where(Link.content_id == content_id))
    cache = LinkCache()
    app.extensions["tune"] = replace(
        tune,
        link_cache=cache,
        link_reads=LinkReads(cache, tune.db.fetch_all, sqlite=tune.db.is_sqlite),
    )
    try:
        answer = await asgi.get(path)
    finally:
        app.extensions["tune"] = tune
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    assert await clicks(tune) == []


async def test_a_pixel_fetched_again_is_recorded_without_checking_its_token_again(
    app: Quart, tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    content_id, _ = await a_link(tune)
    path = f"/t/o/{tune.signer.open_token(content_id)}.gif"
    checked = counted_reads(tune, monkeypatch, "read_open")
    asgi = AsgiClient(app)
    answers = [await asgi.get(path) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200] * 3
    assert all(
        without_request_id(a.headers) == without_request_id(answers[0].headers) for a in answers
    )
    assert len(checked) == 1  # the token's HMAC checked once, for the first fetch
    assert await opens(tune) == [content_id] * 3


async def test_only_a_pixel_token_that_verified_is_kept(
    app: Quart, tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept token answers only itself: each altered one is checked, and refused."""
    content_id, _ = await a_link(tune)
    token = tune.signer.open_token(content_id)
    checked = counted_reads(tune, monkeypatch, "read_open")
    asgi = AsgiClient(app)
    assert (await asgi.get(f"/t/o/{token}.gif")).status_code == 200
    altered = [
        token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :] for i in range(len(token))
    ]
    for forged in [*altered, *altered]:  # twice: a refused token is not kept either
        assert (await asgi.get(f"/t/o/{forged}.gif")).status_code == 200
    assert checked == [token, *altered, *altered]
    assert await opens(tune) == [content_id]


async def test_pixel_tokens_kept_for_one_start_are_checked_again_after_the_next(
    app: Quart, tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    content_id, _ = await a_link(tune)
    path = f"/t/o/{tune.signer.open_token(content_id)}.gif"
    checked = counted_reads(tune, monkeypatch, "read_open")
    asgi = AsgiClient(app)
    await asgi.get(path)
    app.extensions["tune"] = replace(tune)  # a new start: new services, same signer
    try:
        await asgi.get(path)
        await asgi.get(path)
    finally:
        app.extensions["tune"] = tune
    assert len(checked) == 2  # once for each start
    assert await opens(tune) == [content_id] * 3


def test_kept_tokens_drop_the_oldest_when_full_and_forget_discarded_and_another_owners() -> None:
    answers = KeptTokens[Any](size=2)
    owner, other = object(), object()
    kept = [(n, n, b"body", ((b"location", b"x"),)) for n in range(3)]
    assert answers.get(owner, "a") is None
    for token, answer in zip("abc", kept, strict=True):
        answers.put(owner, token, answer)
    assert [answers.get(owner, token) for token in "abc"] == [None, kept[1], kept[2]]
    answers.discard("b")  # its email gone
    assert [answers.get(owner, token) for token in "bc"] == [None, kept[2]]
    assert answers.get(other, "c") is None  # a new app start: nothing kept is given
    assert answers.get(owner, "c") is None
    answers.put(other, "c", kept[2])  # read for an owner that is no longer current
    assert answers.get(owner, "c") is None
