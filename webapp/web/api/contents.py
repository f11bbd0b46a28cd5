"""`/api/.../contents`: write each contact's email, and read the emails written."""

from __future__ import annotations

from typing import Self

from quart_schema import validate_querystring, validate_response

from webapp.outbound import contentreads, contents
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Page, PageQuery, Shape, Timestamp
from webapp.web.pagination import CONTENT_KEY
from webapp.web.services import services


def tracking_urls() -> contents.TrackingUrls:
    tune = services()
    return contents.TrackingUrls(tune.config.base_url, tune.signer)


class TrackedLink(Shape):
    url: str
    tracked_url: str


class Email(Shape):
    id: int
    campaign_id: int
    contact_id: int
    tier: int
    subject: str
    html: str
    text: str
    pixel_url: str | None
    """Null when the campaign does not track opens."""
    unsubscribe_url: str
    links: list[TrackedLink]
    headers: dict[str, str]
    send_status: str
    sent_at: Timestamp | None

    @classmethod
    def of(cls, content: contentreads.WrittenContent, urls: contents.TrackingUrls) -> Self:
        """The email with its tracked URLs, as this server signs them."""
        unsubscribe = urls.unsubscribe(content.id)
        return cls(
            id=content.id,
            campaign_id=content.campaign_id,
            contact_id=content.contact_id,
            tier=content.tier,
            subject=content.subject,
            html=content.html,
            text=content.text,
            pixel_url=urls.pixel(content.id) if content.tracking else None,
            unsubscribe_url=unsubscribe,
            links=[
                TrackedLink(url=url, tracked_url=urls.click(content.id, position))
                for position, url in content.links
            ],
            headers=urls.unsubscribe_headers(unsubscribe),
            send_status=content.send_status,
            sent_at=content.sent_at,
        )


class Generated(Shape):
    campaign_id: int
    created: int
    existing: int


@blueprint.post("/campaigns/<int:campaign_id>/contents/generate")
@validate_response(Generated)
async def generate_contents(campaign_id: int) -> Generated:
    """Write the email of every contact that has none yet (idempotent)."""
    tune = services()
    summary = await contents.generate_contents(tune.db, campaign_id, tracking_urls())
    return Generated(campaign_id=campaign_id, created=summary.created, existing=summary.existing)


@blueprint.get("/campaigns/<int:campaign_id>/contents")
@validate_querystring(PageQuery)
@validate_response(Page[Email])
async def list_contents(campaign_id: int, query_args: PageQuery) -> Page[Email]:
    """The campaign's emails, paged."""
    request_page = query_args.page(CONTENT_KEY)
    after = int(request_page.after[0]) if request_page.after is not None else 0
    rows, next_key = await contentreads.campaign_contents(
        services().db, campaign_id, request_page.limit, after
    )
    urls = tracking_urls()
    return Page[Email].of([Email.of(row, urls) for row in rows], next_key)


@blueprint.get("/contents/<int:content_id>")
@validate_response(Email)
async def get_content(content_id: int) -> Email:
    """One email."""
    return Email.of(await contentreads.read_content(services().db, content_id), tracking_urls())
