"""`/api/.../export.mbox` and `export.csv`: a campaign's emails as files, streamed; and the
import files: a sample prospect CSV, and an import's rejected rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Response

from webapp.outbound import export
from webapp.prospects import jobs, rejects
from webapp.web.api.contents import tracking_urls
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import streams
from webapp.web.services import services


def attachment(body: AsyncIterator[bytes], mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blueprint.get("/campaigns/<int:campaign_id>/export.mbox")
@streams("application/mbox")
async def export_mbox(campaign_id: int) -> Response:
    """Every email as a ready RFC 5322 message (mboxrd), streamed."""
    tune = services()
    await export.check_campaign(tune.db, campaign_id)
    body = export.export_mbox(tune.db, tune.config, tracking_urls(), campaign_id)
    return attachment(body, "application/mbox", f"campaign-{campaign_id}.mbox")


@blueprint.get("/campaigns/<int:campaign_id>/export.csv")
@streams("text/csv")
async def export_csv(campaign_id: int) -> Response:
    """One CSV row per email with the contact and its tracked content, streamed."""
    tune = services()
    tracking = await export.check_campaign(tune.db, campaign_id)
    body = export.export_csv(tune.db, tracking_urls(), campaign_id, tracking)
    return attachment(body, "text/csv", f"campaign-{campaign_id}.csv")


@blueprint.get("/imports/sample.csv")
@streams("text/csv")
async def import_sample() -> Response:
    """A prospect CSV that imports as it is: the columns Tune reads, one row per contact."""
    return Response(
        rejects.sample_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tune-prospects-sample.csv"'},
    )


@blueprint.get("/imports/<int:import_id>/rejected.csv")
@streams("text/csv")
async def import_rejected(import_id: int) -> Response:
    """The rows an import rejected: the file's columns, then the line and the reason."""
    tune = services()
    async with tune.db.read() as session:
        job = await jobs.get_import(session, import_id)
    return attachment(rejects.rejects_csv(tune.db, job), "text/csv", rejects.rejects_filename(job))
