"""`/api/industries`: the industries a campaign can target."""

from __future__ import annotations

from quart_schema import validate_response

from webapp.campaigns import queries as campaigns
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Page, Shape
from webapp.web.services import services


class Industry(Shape):
    slug: str
    name: str
    description: str
    profile: str


@blueprint.get("/industries")
@validate_response(Page[Industry])
async def list_industries() -> Page[Industry]:
    """The industries a campaign can target."""
    async with services().db.read() as session:
        rows = await campaigns.list_industries(session)
    return Page[Industry].of([Industry.model_validate(row) for row in rows], None)
