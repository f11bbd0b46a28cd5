"""Campaign pages: the list with its create form, a campaign with its tiers, a prospect
(with its replies)."""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request

from webapp.campaigns import dashboard, engagement, timeline
from webapp.campaigns import queries as campaigns
from webapp.campaigns import status as statuses
from webapp.core.errors import ValidationFailed
from webapp.core.logs import get_logger
from webapp.inbox import replies as inbox_replies
from webapp.inbox.reading import CLASSIFICATIONS
from webapp.outbound.contents import links_of
from webapp.prospects import jobs
from webapp.prospects.listing import FILTERS, SORTS, ListQuery, parse_query
from webapp.prospects.queries import get_prospect, parse_tier
from webapp.prospects.scoring.profile import load_profile
from webapp.tracking.reclassify import flag_reasons
from webapp.web.pagination import CAMPAIGN_KEY, encode_cursor, page_request
from webapp.web.services import services
from webapp.web.ui import PREVIEW_CSP, blueprint
from webapp.web.ui.imports import REPORT_ERRORS_SHOWN
from webapp.web.ui.live import live_context
from webapp.web.ui.sending import sending_context
from webapp.web.ui.sequences import position_context, sequence_context
from webapp.workspace.outcomes import OUTCOMES

CAMPAIGNS_PER_PAGE = 25
log = get_logger(__name__)
PROSPECTS_PER_PAGE = 25
DEFAULT_SORT = "activity"
"""The dashboard lists whoever moved last on top (the API defaults to score)."""


@blueprint.get("/campaigns")
async def campaign_list() -> Any:
    return await _campaign_list_page()


async def _campaign_list_page(
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Any:
    page = page_request(request.args, CAMPAIGN_KEY, CAMPAIGNS_PER_PAGE)
    async with services().db.read() as db_session:
        rows, next_key = await dashboard.campaign_rows(db_session, page)
        industries = await campaigns.list_industries(db_session)
    html = await render_template(
        "campaigns.html",
        rows=rows,
        next_cursor=encode_cursor(next_key) if next_key else None,
        paged=page.after is not None,
        industries=industries,
        errors=errors or {},
        values=values or {},
    )
    return html, status


@blueprint.post("/campaigns")
async def campaign_create() -> Any:
    form = await request.form
    values = {"name": form.get("name", ""), "industry": form.get("industry", "")}
    try:
        async with services().db.write() as db_session:
            campaign = await campaigns.create_campaign(
                db_session, values["name"], values["industry"]
            )
    except ValidationFailed as error:
        return await _campaign_list_page({error.field or "form": error.message}, values, 422)
    return redirect(f"/campaigns/{campaign.id}", 303)


def list_query(args: Any) -> ListQuery:
    """The rep's filter, sort and search from the query string (most recent activity first
    unless told otherwise)."""
    return parse_query(
        args.get("sort"), args.get("filter"), args.get("q"), default_sort=DEFAULT_SORT
    )


def _tiers_context(
    lists: dashboard.TierLists, campaign_id: int, query: ListQuery
) -> dict[str, Any]:
    tiers = {
        tier: {"rows": rows, "next_cursor": encode_cursor(next_key) if next_key else None}
        for tier, (rows, next_key) in lists.pages.items()
    }
    return {
        "sizes": lists.sizes,
        "matching": lists.matching,
        "tiers": tiers,
        "campaign_id": campaign_id,
        **query_context(query),
    }


def query_context(query: ListQuery) -> dict[str, Any]:
    """What the list templates need to rebuild the rep's URL (rows, "Show more", live refresh)."""
    args = query.args()
    if args.get("sort") == DEFAULT_SORT:
        del args["sort"]
    return {
        "query": query,
        "search": query.search,
        "list_args": args,
        "filters": FILTERS,
        "sorts": SORTS,
        "narrowing": " and ".join(
            f"“{part}”" for part in (FILTERS.get(query.filter or ""), query.search) if part
        ),
    }


@blueprint.get("/campaigns/<int:campaign_id>")
async def campaign_page(campaign_id: int) -> Any:
    query = list_query(request.args)
    raw_job = request.args.get("import")
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        lists = await dashboard.tier_lists(db_session, campaign_id, query, PROSPECTS_PER_PAGE)
        tiers = _tiers_context(lists, campaign_id, query)
        if request.headers.get("HX-Target") == "tiers":
            return await render_template("_tiers.html", **tiers)
        view = await dashboard.live_view(db_session, campaign)
        job = await jobs.latest_import(db_session, campaign_id, raw_job)
        send_context = await sending_context(db_session, campaign_id)
        sequence = await sequence_context(db_session, campaign_id)
        links = await engagement.top_links(db_session, campaign_id)
        status = await statuses.campaign_status(db_session, campaign)
    flags = await flag_reasons(services().db, campaign_id)
    return await render_template(
        "campaign.html",
        **live_context(view),
        campaign_status=status,
        status_labels=statuses.LABELS,
        **tiers,
        **send_context,
        **sequence,
        top_links=links,
        flag_reasons=flags,
        job=job,
        shown_errors=REPORT_ERRORS_SHOWN,
    )


@blueprint.post("/campaigns/<int:campaign_id>/pause")
async def campaign_pause(campaign_id: int) -> Any:
    """Hold the campaign's queued emails back until a rep resumes it."""
    async with services().db.write() as db_session:
        await statuses.pause(db_session, campaign_id)
    log.info("campaign_paused", campaign_id=campaign_id, user_id=g.user.id)
    return redirect(f"/campaigns/{campaign_id}", 303)


@blueprint.post("/campaigns/<int:campaign_id>/resume")
async def campaign_resume(campaign_id: int) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        await statuses.resume(db_session, campaign_id)
    if tune.sender is not None:
        tune.sender.wake()
    log.info("campaign_resumed", campaign_id=campaign_id, user_id=g.user.id)
    return redirect(f"/campaigns/{campaign_id}", 303)


@blueprint.get("/campaigns/<int:campaign_id>/tiers/<int:tier>")
async def tier_rows(campaign_id: int, tier: int) -> Any:
    """More rows of one tier (the "Show more" button), keyset-paged."""
    tier = parse_tier(tier)
    query = list_query(request.args)
    page = page_request(request.args, query.key(), PROSPECTS_PER_PAGE)
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
        rows, next_key = await dashboard.search_tier(db_session, campaign_id, tier, query, page)
    return await render_template(
        "_tier_rows.html",
        rows=rows,
        tier=tier,
        campaign_id=campaign_id,
        **query_context(query),
        next_cursor=encode_cursor(next_key) if next_key else None,
    )


@blueprint.get("/prospects/<int:prospect_id>")
async def prospect_page(prospect_id: int) -> Any:
    tune = services()
    async with tune.db.read() as db_session:
        prospect = await get_prospect(db_session, prospect_id)
        campaign = await campaigns.get_campaign(db_session, prospect.campaign_id)
        contents = await timeline.contents_of_prospect(db_session, prospect_id)
        links = await links_of(
            db_session, [content.id for thread in contents.values() for content in thread]
        )
        events = await timeline.prospect_timeline(db_session, prospect_id)
        replies = await inbox_replies.prospect_replies(db_session, prospect_id)
        sequence = await position_context(db_session, prospect_id)
    profile = load_profile(campaign.industry.profile)
    previews = {
        content.id: timeline.preview_html(content.html, links[content.id], tune.signer)
        for thread in contents.values()
        for content in thread
    }
    html = await render_template(
        "prospect.html",
        prospect=prospect,
        campaign=campaign,
        best=dashboard.best_contact(list(prospect.contacts)),
        contents=contents,
        previews=previews,
        events=events,
        replies=replies,
        labels=CLASSIFICATIONS,
        **sequence,
        outcome_labels=OUTCOMES,
        thresholds=profile.thresholds,
        profile_version=profile.version,
    )
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}
