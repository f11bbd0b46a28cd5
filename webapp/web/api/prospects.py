"""`/api/.../prospects`: import prospects, re-score a campaign, read prospects."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field
from quart import request
from quart_schema import validate_querystring, validate_response
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.campaigns import queries as campaigns
from webapp.core.errors import PayloadTooLarge
from webapp.prospects import analysis, detail, importer, jobs, listing, tierpage
from webapp.prospects import queries as prospects
from webapp.prospects.rows.decode import check_encoding
from webapp.web.api.keys import blueprint
from webapp.web.api.sequences import Place
from webapp.web.api.shapes import Page, PageQuery, Shape, Text, Timestamp
from webapp.web.services import services


def _is_set(value: object) -> object:
    """`unsubscribed_at` (a time or None) read as the `unsubscribed` flag."""
    return value if isinstance(value, bool) else value is not None


class Contact(Shape):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    title: str | None
    seniority: str | None
    unsubscribed: Annotated[
        bool,
        BeforeValidator(_is_set),
        Field(validation_alias=AliasChoices("unsubscribed", "unsubscribed_at")),
    ]


class Prospect(Shape):
    id: int
    campaign_id: int
    name: str
    domain: str | None
    industry: str | None
    employees: int | None
    revenue: int | None
    country: str | None
    tier: int = Field(ge=1, le=3)
    score: int
    score_reasons: list[dict[str, Any]]
    hot: bool
    last_activity_at: Timestamp | None
    contacts: list[Contact]


class WrittenEmail(Shape):
    id: int
    contact_id: int
    step: int
    """The sequence step this email is (1 = the first email)."""
    subject: str
    send_status: str
    sent_at: Timestamp | None


class TimelineEvent(Shape):
    kind: str
    occurred_at: Timestamp
    contact_email: str
    url: str | None
    flagged: bool
    flag_reason: str | None
    source: str
    """pixel, link, api, smtp, inferred, or rep (an outcome a rep recorded)."""
    note: str | None = None
    """The rep's note, for an outcome."""


class ReceivedReply(Shape):
    """A reply read from the mailbox: the answer without quoted history or signature."""

    id: int
    contact_email: str
    subject: str
    text: str
    classification: str
    """positive, neutral or negative: the rep's label when they corrected it."""
    corrected: bool
    """A rep set the classification."""
    received_at: Timestamp


class ProspectDetail(Prospect):
    """One prospect with its contacts, reasons, emails, event timeline and replies
    (newest first)."""

    profile_version: int
    contents: list[WrittenEmail] = []
    events: list[TimelineEvent] = []
    replies: list[ReceivedReply] = []
    sequence: list[Place] = []
    """Each contact's place in the campaign's sequence."""


class ImportQuery(Shape):
    strict: Text | None = None
    """`1` (or true/yes/on): import nothing unless every row is valid."""
    encoding: Text | None = None
    """The CSV's encoding (`cp1250`, `cp1251`, ...); detected when not given."""


class RowError(Shape):
    line: int
    reason: str


class ImportReport(Shape):
    created: int
    updated: int
    duplicates: int
    rejected: int
    errors: list[RowError]
    """The first 100 rejected rows; all of them: `GET /api/imports/{id}/rejected.csv`."""
    warned: int = 0
    """Rows imported with a bad optional value (a headcount of "lots") left blank."""
    warnings: list[RowError] = []
    """The first 100 of those rows, with what was left blank."""
    prospects_created: int
    import_id: int | None


class ImportJob(Shape):
    """An import's progress and report; a failed or interrupted one says how to resume."""

    id: int
    campaign_id: int
    source: str
    status: str
    rows_seen: int
    created: int
    updated: int
    duplicates: int
    rejected: int
    errors: list[dict[str, Any]]
    warned: int = 0
    warnings: list[RowError] = []
    total: int | None = None
    """Records in the file, when known."""
    percent: int | None = None
    """How far the import is, 0–100, when the total is known."""
    created_at: str
    finished_at: str | None
    resume: str | None = None


class Analysis(Shape):
    campaign_id: int
    profile: str
    profile_version: int
    analysed: int
    changed: int
    tiers: dict[str, int]
    seconds: float


class ProspectListQuery(PageQuery):
    """The tier list's paging plus the dashboard's filter, sort and search."""

    filter: Text | None = None
    """hot, replied, clicked, opened (opened, no reply), uncontacted or stopped
    (a contact bounced or unsubscribed); every prospect when left out."""
    sort: Text | None = None
    """score (hot first, then by score; the default), activity (latest activity first,
    then the untouched by score) or name."""
    q: Text | None = None
    """Company, domain, contact name or email containing this text (any case)."""


@blueprint.get("/campaigns/<int:campaign_id>/prospects/<tier>")
@validate_querystring(ProspectListQuery)
@validate_response(Page[Prospect])
async def prospects_in_tier(
    campaign_id: int, tier: str, query_args: ProspectListQuery
) -> Page[Prospect]:
    """The prospects of one tier, hot first then by score unless `sort` says otherwise."""
    tier_number = prospects.parse_tier(tier)
    query = listing.parse_query(query_args.sort, query_args.filter, query_args.q)
    request_page = query_args.page(query.key())
    db = services().db
    if query == listing.ListQuery():  # the default order, as API clients poll it
        found, next_key = await tierpage.tier_page(
            db, campaign_id, tier_number, request_page.limit, request_page.after
        )
        return Page[Prospect].of([Prospect.model_validate(row) for row in found], next_key)
    async with db.read() as session:
        await campaigns.get_campaign(session, campaign_id)
        rows, next_key = await listing.list_tier(
            session, campaign_id, tier_number, query, request_page
        )
        items = [Prospect.model_validate(row) for row in rows]
    return Page[Prospect].of(items, next_key)


@blueprint.post("/campaigns/<int:campaign_id>/prospects")
@validate_querystring(ImportQuery)
@validate_response(ImportReport, 201)
@validate_response(ImportReport, 200)
async def import_prospects(campaign_id: int, query_args: ImportQuery) -> Any:
    """Import prospects: a JSON array of rows or a CSV body; `?strict=1` is all or nothing."""
    tune = services()
    limit = tune.config.max_upload_bytes
    try:
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        data: bytes = await request.body
    except RequestEntityTooLarge:
        raise PayloadTooLarge(importer.too_large_message(limit)) from None
    summary = await importer.import_upload(
        tune.db,
        campaign_id,
        data,
        request.mimetype,
        strict=importer.strict_flag(query_args.strict),
        source="api",
        encoding=check_encoding(query_args.encoding),
    )
    return ImportReport.model_validate(summary), 201 if summary.created else 200


@blueprint.post("/campaigns/<int:campaign_id>/analyse")
@validate_response(Analysis)
async def analyse_campaign(campaign_id: int) -> Analysis:
    """Re-score every prospect of the campaign with its industry's current profile."""
    summary = await analysis.analyse_campaign(services().db, campaign_id)
    return Analysis.model_validate(summary.as_json())


@blueprint.get("/imports/<int:import_id>")
@validate_response(ImportJob)
async def get_import(import_id: int) -> ImportJob:
    """An import's progress and report; an interrupted or failed one says how to resume."""
    async with services().db.read() as session:
        return ImportJob.model_validate(jobs.import_json(await jobs.get_import(session, import_id)))


@blueprint.get("/prospects/<int:prospect_id>")
@validate_response(ProspectDetail)
async def get_prospect(prospect_id: int) -> ProspectDetail:
    """One prospect with contacts, reasons, emails, events and replies."""
    return ProspectDetail.model_validate(await detail.read_prospect(services().db, prospect_id))
