"""CSV imports from the dashboard: started in the background, polled until the report; the
sample CSV and an import's rejected rows to download."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, redirect, render_template, request

from webapp.campaigns import queries as campaigns
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import Campaign, ImportJob
from webapp.prospects import importer, jobs, rejects
from webapp.prospects.rows.decode import check_encoding
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx

REPORT_ERRORS_SHOWN = 100


@blueprint.post("/campaigns/<int:campaign_id>/import")
async def campaign_import(campaign_id: int) -> Any:
    """Start a CSV import in the background; the page polls its progress and report."""
    files = await request.files
    upload = files.get("file")
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
    if upload is None or not upload.filename:
        return await _import_answer(campaign, None, "Choose a CSV file to import.", 422)
    form = await request.form
    try:
        encoding = check_encoding(form.get("encoding"))
    except ValidationFailed as error:
        return await _import_answer(campaign, None, error.message, 422)
    data = upload.read()
    tune = services()
    async with tune.db.write() as db_session:
        job_id = (await jobs.start_import(db_session, campaign_id, upload.filename)).id
    current_app.add_background_task(
        importer.run_import_job,
        tune.db,
        campaign_id,
        data,
        job_id,
        source=upload.filename,
        encoding=encoding,
    )
    if not is_htmx():
        return redirect(f"/campaigns/{campaign_id}?import={job_id}#import", 303)
    async with services().db.read() as db_session:
        job = await jobs.get_import(db_session, job_id)
    return await _import_answer(campaign, job, None, 202)


async def _import_answer(
    campaign: Campaign, job: ImportJob | None, error: str | None, status: int
) -> Any:
    html = await render_template(
        "_import.html",
        campaign=campaign,
        job=job,
        import_error=error,
        shown_errors=REPORT_ERRORS_SHOWN,
    )
    if is_htmx():
        # Show the message in place even when it is an error.
        return html, 200 if status >= 400 else status
    if job is None:
        return await render_template(
            "error.html", status=status, title="Import", message=error
        ), status
    return html, status


@blueprint.get("/campaigns/<int:campaign_id>/imports/<int:job_id>")
async def import_status(campaign_id: int, job_id: int) -> Any:
    """Progress of an import, then its report (polled by the page until it finishes)."""
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        job = await jobs.latest_import(db_session, campaign_id, str(job_id))
    if job is None:
        raise NotFound(f"import {job_id} does not exist")
    html = await render_template(
        "_import.html",
        campaign=campaign,
        job=job,
        import_error=None,
        shown_errors=REPORT_ERRORS_SHOWN,
    )
    # When it is over, the prospect lists refresh themselves (`tune:imported`).
    headers = {"HX-Trigger": "tune:imported"} if job.status != "running" and is_htmx() else {}
    return html, 200, headers


@blueprint.get("/imports/sample.csv")
async def import_sample() -> Response:
    """A prospect CSV that imports as it is (the same file as `GET /api/imports/sample.csv`)."""
    return Response(
        rejects.sample_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tune-prospects-sample.csv"'},
    )


@blueprint.get("/campaigns/<int:campaign_id>/imports/<int:job_id>/rejected.csv")
async def import_rejected(campaign_id: int, job_id: int) -> Response:
    """The rows an import rejected: the file's columns, then the line and the reason."""
    tune = services()
    async with tune.db.read() as db_session:
        job = await jobs.latest_import(db_session, campaign_id, str(job_id))
    if job is None or job.id != job_id:
        raise NotFound(f"import {job_id} does not exist")
    return Response(
        rejects.rejects_csv(tune.db, job),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{rejects.rejects_filename(job)}"'},
    )
