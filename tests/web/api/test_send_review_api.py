"""`GET /api/campaigns/{id}/send-review` tells a script what `POST /send` would do, and
`expected` on the send refuses a count that changed since."""

from __future__ import annotations

from typing import Any

from tests.support.dashboard import seed
from webapp.web.services import Services


async def test_review_then_send_with_the_reviewed_count(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    ids = await seed(tune)
    campaign = ids["campaign"]
    reviewed = await client.get(
        f"/api/campaigns/{campaign}/send-review?tier=1&samples=2", headers=auth
    )
    assert reviewed.status_code == 200
    body = await reviewed.get_json()
    assert body["recipients"] == 3 and body["unwritten"] == 0
    assert body["excluded"] == {
        "unsubscribed": 0,
        "suppressed": 0,
        "no_email": 0,
        "already_sent": 0,
    }
    first, second = body["emails"]
    assert first["content_id"] < second["content_id"]
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["headers"]["Message-ID"].startswith("<tune.")
    assert "/t/o/" in first["html"] and "/t/c/" in first["html"]
    assert "/t/c/" in first["text"]

    stale = await client.post(
        f"/api/campaigns/{campaign}/send", query_string={"tier": 1, "expected": 2}, headers=auth
    )
    assert stale.status_code == 409
    error = (await stale.get_json())["error"]
    assert error["code"] == "conflict" and error["recipients"] == 3

    sent = await client.post(
        f"/api/campaigns/{campaign}/send", json={"tier": 1, "expected": 3}, headers=auth
    )
    assert sent.status_code == 202
    assert (await sent.get_json())["queued"] == 3
    after = await (
        await client.get(f"/api/campaigns/{campaign}/send-review?tier=1", headers=auth)
    ).get_json()
    assert after["recipients"] == 0 and after["excluded"]["already_sent"] == 3
    again = await client.post(
        f"/api/campaigns/{campaign}/send", json={"tier": 1, "expected": 3}, headers=auth
    )
    assert again.status_code == 202 and (await again.get_json())["queued"] == 0

    progress = await (
        await client.get(f"/api/campaigns/{campaign}/sending", headers=auth)
    ).get_json()
    assert progress["total"] == 3 and progress["pending"] == 3 and progress["sent"] == 0
    assert progress["relay"]["kind"] == "unconfigured"
    assert progress["finish_at"] is None


async def test_review_of_an_unknown_campaign_or_tier(client: Any, auth: dict[str, str]) -> None:
    missing = await client.get("/api/campaigns/999/send-review", headers=auth)
    assert missing.status_code == 404
    bad = await client.get("/api/campaigns/1/send-review?tier=9", headers=auth)
    assert bad.status_code in (404, 422)
