"""One prospect as `GET /api/prospects/<id>` answers it, read by plain SQL in one go.

The answer gathers the prospect, its contacts, the emails written for them,
its timeline (events and the outcomes reps recorded), its replies and each
contact's place in the sequence. Through the ORM that was about twelve
statements, each a hop to SQLite's thread or a round trip with SQLAlchemy's
bookkeeping, and the read cost fifty times an empty Quart request. Here it is
four statements sent together (`Database.fetch_each`: one snapshot, read in one
hop to a reader thread on SQLite and as one statement, one round trip, on
PostgreSQL; identical reads waiting at once share one go, `fetch_each_shared`),
for the Quart route (`webapp/web/api/prospects.py`) and the API layer in front
of Quart (`webapp/web/apireads.py`) alike.

The rows are kept as the database gives them (`ProspectRows`), so the layer can
keep the answer written from them and answer it again for equal rows; `detail`
turns them into the fields of the route's model. The ORM reads stay the
reference for the pages: `timeline.prospect_timeline`, `replies.prospect_replies`
and `control.positions`, which shares `control.place` with `detail` (a test
checks that both agree).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from webapp.campaigns.timeline import PROSPECT_EVENTS
from webapp.core.db import Database, read_time
from webapp.core.errors import NotFound
from webapp.sequences import control, rules

HEAD = """
SELECT p.id, p.campaign_id, p.name, p.domain, p.industry, p.employees, p.revenue, p.country,
    p.tier, p.score, p.score_reasons, p.hot, p.last_activity_at, p.profile_version,
    c.account_stop,
    k.id, k.email, k.first_name, k.last_name, k.title, k.seniority, k.unsubscribed_at,
    e.step, e.status, e.stop_reason, e.due_at, e.last_sent_at, e.paused_until, e.pause_reason,
    EXISTS (SELECT 1 FROM events v
        WHERE v.contact_id = k.id AND v.kind = 'bounce' AND NOT v.flagged),
    EXISTS (SELECT 1 FROM events v
        WHERE v.contact_id = k.id AND v.kind = 'complaint' AND NOT v.flagged)
FROM prospects p
LEFT JOIN campaigns c ON c.id = p.campaign_id
LEFT JOIN contacts k ON k.prospect_id = p.id
LEFT JOIN sequence_enrollments e ON e.contact_id = k.id
WHERE p.id = ?
ORDER BY k.id
"""
"""The prospect (its first 15 columns) with one row per contact: the contact, its
enrollment and whether an unflagged bounce or complaint came from it (a prospect without
contacts: one row of null contact columns; no row when there is no such prospect)."""

CONTENTS = """
SELECT id, contact_id, step, subject, send_status, sent_at, replied_at
FROM contents WHERE prospect_id = ? ORDER BY contact_id, step
"""

TIMELINE = """
SELECT * FROM (
    SELECT 0 AS part, v.id, v.kind, v.occurred_at, k.email, l.url, v.flagged, v.flag_reason,
        v.source, NULL AS note
    FROM events v
    JOIN contacts k ON k.id = v.contact_id
    LEFT JOIN links l ON l.id = v.link_id
    WHERE v.prospect_id = ?
    ORDER BY v.occurred_at DESC, v.id DESC LIMIT ?
) AS happened
UNION ALL
SELECT * FROM (
    SELECT 1 AS part, o.id, o.outcome, o.created_at, k.email, NULL, false, NULL, 'rep', o.note
    FROM prospect_outcomes o
    LEFT JOIN contacts k ON k.id = o.contact_id
    WHERE o.prospect_id = ?
    ORDER BY o.created_at DESC, o.id DESC LIMIT ?
) AS recorded
ORDER BY 1, 4 DESC, 2 DESC
"""
"""The latest events, then the latest outcomes reps recorded (as `prospect_timeline`)."""

REPLIES = """
SELECT r.id, k.email, r.subject, r.text, r.classification, r.label, r.received_at
FROM replies r JOIN contacts k ON k.id = r.contact_id
WHERE r.prospect_id = ?
ORDER BY r.received_at DESC, r.id DESC
"""


class ProspectRows(NamedTuple):
    """The prospect's rows as the database gave them (compared to keep an answer)."""

    head: list[tuple[Any, ...]]
    contents: list[tuple[Any, ...]]
    timeline: list[tuple[Any, ...]]
    replies: list[tuple[Any, ...]]


async def prospect_rows(db: Database, prospect_id: int) -> ProspectRows:
    """The prospect's rows; NotFound when there is no such prospect."""
    head, contents, timeline, replies = await db.fetch_each_shared(
        (
            (HEAD, (prospect_id,)),
            (CONTENTS, (prospect_id,)),
            (TIMELINE, (prospect_id, PROSPECT_EVENTS, prospect_id, PROSPECT_EVENTS)),
            (REPLIES, (prospect_id,)),
        )
    )
    if not head:
        raise NotFound(f"prospect {prospect_id} does not exist")
    return ProspectRows(head, contents, timeline, replies)


async def read_prospect(db: Database, prospect_id: int) -> dict[str, Any]:
    """The fields of `GET /api/prospects/<id>`'s answer; NotFound when there is none."""
    return detail(await prospect_rows(db, prospect_id))


def detail(rows: ProspectRows) -> dict[str, Any]:
    """The prospect with its contacts, emails, timeline, replies and sequence places."""
    first = rows.head[0]
    account_stop = True if first[14] is None else bool(first[14])
    replied = {row[1] for row in rows.contents if row[6] is not None}
    bounced = {row[1] for row in rows.contents if row[4] == "bounced"}
    contacts = []
    places = []
    for row in rows.head:
        if row[15] is None:
            break  # the prospect has no contacts
        contact_id, email = row[15], row[16]
        contacts.append(
            {
                "id": contact_id,
                "email": email,
                "first_name": row[17],
                "last_name": row[18],
                "title": row[19],
                "seniority": row[20],
                "unsubscribed": row[21] is not None,
            }
        )
        facts = rules.ContactFacts(
            replied=contact_id in replied,
            colleague_replied=bool(replied),
            unsubscribed=row[21] is not None,
            bounced=bool(row[29]) or contact_id in bounced,
            complained=bool(row[30]),
        )
        enrolled = None
        if row[22] is not None:
            enrolled = control.Enrolled(
                row[22],
                row[23],
                row[24],
                read_time(row[25]),
                read_time(row[26]),
                read_time(row[27]),
                row[28],
            )
        pending = rules.stop_reason(facts, account_stop)
        places.append(control.place(contact_id, email, enrolled, pending))
    reasons = first[10]
    return {
        "id": first[0],
        "campaign_id": first[1],
        "name": first[2],
        "domain": first[3],
        "industry": first[4],
        "employees": first[5],
        "revenue": first[6],
        "country": first[7],
        "tier": first[8],
        "score": first[9],
        "score_reasons": None if reasons is None else json.loads(reasons),
        "hot": bool(first[11]),
        "last_activity_at": read_time(first[12]),
        "profile_version": first[13],
        "contacts": contacts,
        "contents": [
            {
                "id": row[0],
                "contact_id": row[1],
                "step": row[2],
                "subject": row[3],
                "send_status": row[4],
                "sent_at": read_time(row[5]),
            }
            for row in rows.contents
        ],
        "events": _timeline(rows.timeline),
        "replies": [
            {
                "id": row[0],
                "contact_email": row[1],
                "subject": row[2],
                "text": row[3],
                "classification": row[5] or row[4],
                "corrected": row[5] is not None,
                "received_at": read_time(row[6]),
            }
            for row in rows.replies
        ],
        "sequence": places,
    }


def _timeline(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Events and outcomes newest first, as `timeline.prospect_timeline` orders them (a
    stable sort: at equal times the events before the outcomes)."""
    entries = []
    for part, _, kind, occurred_at, email, url, flagged, flag_reason, source, note in rows:
        if part == 1 and kind == "replied" and not note:
            continue  # its reply event (source "rep") is on the timeline already
        entries.append(
            {
                "kind": kind,
                "occurred_at": read_time(occurred_at),
                "contact_email": email or "",
                "url": url,
                "flagged": bool(flagged),
                "flag_reason": flag_reason,
                "source": source,
                "note": note,
            }
        )
    entries.sort(key=lambda entry: entry["occurred_at"], reverse=True)
    return entries[:PROSPECT_EVENTS]
