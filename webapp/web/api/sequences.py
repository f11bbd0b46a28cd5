"""`/api/campaigns/{id}/steps`, `/api/campaigns/{id}/sequence` and
`/api/prospects/{id}/sequence/...`: a campaign's follow-up steps, their templates
and settings, and a rep's stop, pause and resume."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart_schema import validate_response

from webapp.sequences import control, figures, settings, steps
from webapp.web.api.campaigns import Counts
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Page, Shape, Text, validate_params
from webapp.web.services import services


class StepCounts(Counts):
    """COUNTS of a step or a variant, with the replies the inbox read as positive."""

    positive_replies: int
    """Contacts whose reply is positive (Tune's reading, or the rep's label)."""


class VariantFigures(Shape):
    variant: str
    """A to D."""
    stats: StepCounts


class Verdict(Shape):
    """The A/B verdict: each variant's chance of being best, and the winner past 95%."""

    metric: str
    """`reply` (the default) or `click`: a campaign setting; never opens."""
    probability_best: dict[str, float]
    winner: str | None


class TestSend(Shape):
    """Test then winner: `share` percent of the step's contacts get the variants first;
    after `wait` the rest get the winner."""

    share: int
    wait: str | None
    """ISO 8601 duration from the first contact reaching the step."""
    started_at: str | None
    winner: str | None
    """A to D, once chosen."""
    decided_by: str | None
    """`probability` (best with 95% probability) or `leader` (the best rate when the wait
    ran out)."""


class Step(Shape):
    step: int
    """1 is the first email; follow-ups count from 2."""
    delay: str | None
    """ISO 8601 duration after the previous step was sent (none for step 1)."""
    delay_seconds: int | None
    condition: str | None
    """no_reply, no_reply_no_open, opened_no_reply or clicked_no_reply (none for step 1)."""
    as_reply: bool
    """Sent as `Re: <step 1 subject>` in the same thread."""
    enabled: bool
    test: TestSend | None = None
    """The test-then-winner send, when set."""
    variants: list[VariantFigures] = []
    stats: StepCounts | None = None
    """The step's figures, all variants together."""
    ab_test: Verdict | None = None


class NewStep(Shape):
    delay: Text
    """An ISO 8601 duration: `P3D`, `PT4H`, `PT30S`."""
    condition: Text = "no_reply"
    as_reply: bool = True


class StepChanges(Shape):
    delay: Text | None = None
    condition: Text | None = None
    as_reply: bool | None = None
    enabled: bool | None = None
    position: int | None = Field(default=None, ge=2, le=steps.MAX_STEPS)
    """Move the step here (steps that have sent keep their place)."""
    test_share: int | None = None
    """Test then winner: this percentage of the step's contacts (5-50) get the variants
    first, the rest the winner after `test_wait`; 0 switches it off."""
    test_wait: Text | None = None
    """How long the test runs before the winner is chosen (ISO 8601: `PT4H`, `P1D`)."""


class StepTemplateBody(Shape):
    subject: Text
    html: Text
    variant: Text = "A"
    """A to D: saving a template for a new variant adds it."""


class StepTemplate(Shape):
    step: int
    tier: str
    """1, 2, 3 or all."""
    variant: str
    subject: str
    html: str


class Settings(Shape):
    send_days: str
    """ISO weekday digits, 1 = Monday: `12345` is Monday to Friday."""
    send_from_hour: int
    send_until_hour: int
    timezone: str
    """For contacts whose country is unknown or spans zones."""
    account_stop: bool
    """A reply from anyone at the company stops all its contacts."""
    winner_metric: str


class SettingsChanges(Shape):
    send_days: Text | None = None
    send_from_hour: int | None = None
    send_until_hour: int | None = None
    timezone: Text | None = None
    account_stop: bool | None = None
    winner_metric: Text | None = None


class Place(Shape):
    """Where one contact is in the campaign's sequence."""

    contact_id: int
    email: str
    step: int | None
    status: str
    """active, paused, stopped, finished or not_enrolled."""
    next_send_at: str | None
    last_sent_at: str | None
    paused_until: str | None
    pause_reason: str | None = None
    """paused_by_rep, or out_of_office (an automatic answer's return date plus a day)."""
    pause_reason_text: str | None = None
    stop_reason: str | None
    """replied, colleague_replied, unsubscribed, bounced, complained, send_failed,
    stopped_by_rep, not_interested or wrong_person (the last two: a rep's outcome)."""
    stop_reason_text: str | None


class Pause(Shape):
    until: Text | None = None
    """An ISO 8601 date or date-time in the future; none pauses until resumed."""


class SequenceAction(Shape):
    prospect_id: int
    changed: int
    """Contacts whose sequence this changed."""
    contacts: list[Place]


def _changes(model: Shape) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, exclude_none=True)


async def _step(campaign_id: int, position: int) -> Step:
    async with services().db.read() as session:
        found = await figures.sequence_json(session, campaign_id)
    return Step.model_validate(next(s for s in found if s["step"] == position))


@blueprint.get("/campaigns/<int:campaign_id>/steps")
@validate_response(Page[Step])
async def list_steps(campaign_id: int) -> Page[Step]:
    """The campaign's steps in order, with figures per step and per variant."""
    return await _steps(campaign_id)


async def _steps(campaign_id: int) -> Page[Step]:
    async with services().db.read() as session:
        found = await figures.sequence_json(session, campaign_id)
    return Page[Step].of([Step.model_validate(step) for step in found], None)


@blueprint.post("/campaigns/<int:campaign_id>/steps")
@validate_params(NewStep)
@validate_response(Step, 201)
async def add_step(campaign_id: int, data: NewStep) -> tuple[Step, int]:
    """Append a follow-up step."""
    async with services().db.write() as session:
        step = await steps.add_step(session, campaign_id, data.delay, data.condition, data.as_reply)
        position = step.position
    return await _step(campaign_id, position), 201


@blueprint.patch("/campaigns/<int:campaign_id>/steps/<int:position>")
@validate_params(StepChanges)
@validate_response(Step)
async def change_step(campaign_id: int, position: int, data: StepChanges) -> Step:
    """Change a step's delay, condition, as_reply or enabled, or move it."""
    async with services().db.write() as session:
        step = await steps.update_step(session, campaign_id, position, _changes(data))
        position = step.position
    return await _step(campaign_id, position)


@blueprint.delete("/campaigns/<int:campaign_id>/steps/<int:position>")
@validate_response(Page[Step])
async def delete_step(campaign_id: int, position: int) -> Page[Step]:
    """Delete a follow-up that has sent nothing (409 otherwise: disable it instead)."""
    async with services().db.write() as session:
        await steps.delete_step(session, campaign_id, position)
    return await _steps(campaign_id)


@blueprint.put(
    '/campaigns/<int:campaign_id>/steps/<int:position>/templates/<any("1", "2", "3", "all"):tier>'
)
@validate_params(StepTemplateBody)
@validate_response(StepTemplate)
async def save_step_template(
    campaign_id: int, position: int, tier: str, data: StepTemplateBody
) -> StepTemplate:
    """Store one template of a step, checked as the dashboard checks it (422 with the line)."""
    async with services().db.write() as session:
        saved = await steps.save_step_template(
            session, campaign_id, position, tier, data.subject, data.html, data.variant
        )
    return StepTemplate.model_validate(saved.as_json())


@blueprint.get("/campaigns/<int:campaign_id>/sequence")
@validate_response(Settings)
async def sequence_settings(campaign_id: int) -> Settings:
    """The send window, default time zone, account-level stop and A/B metric."""
    from webapp.campaigns.queries import get_campaign

    async with services().db.read() as session:
        campaign = await get_campaign(session, campaign_id)
        return Settings.model_validate(settings.settings_json(campaign))


@blueprint.patch("/campaigns/<int:campaign_id>/sequence")
@validate_params(SettingsChanges)
@validate_response(Settings)
async def change_sequence_settings(campaign_id: int, data: SettingsChanges) -> Settings:
    """Change some sequence settings; the others keep their value."""
    async with services().db.write() as session:
        campaign = await settings.update_settings(session, campaign_id, _changes(data))
        return Settings.model_validate(settings.settings_json(campaign))


async def _places(prospect_id: int, changed: int) -> SequenceAction:
    async with services().db.read() as session:
        found = await control.positions(session, prospect_id)
    return SequenceAction(
        prospect_id=prospect_id,
        changed=changed,
        contacts=[Place.model_validate(place) for place in found],
    )


@blueprint.post("/prospects/<int:prospect_id>/sequence/stop")
@validate_response(SequenceAction)
async def stop_sequence(prospect_id: int) -> SequenceAction:
    """Stop the sequence for every contact of the prospect."""
    async with services().db.write() as session:
        changed = await control.stop_prospect(session, prospect_id)
    return await _places(prospect_id, changed)


@blueprint.post("/prospects/<int:prospect_id>/sequence/pause")
@validate_params(Pause)
@validate_response(SequenceAction)
async def pause_sequence(prospect_id: int, data: Pause) -> SequenceAction:
    """Pause the prospect's contacts until `until`, or until resumed."""
    until = control.parse_until(data.until)
    async with services().db.write() as session:
        changed = await control.pause_prospect(session, prospect_id, until)
    return await _places(prospect_id, changed)


@blueprint.post("/prospects/<int:prospect_id>/sequence/resume")
@validate_response(SequenceAction)
async def resume_sequence(prospect_id: int) -> SequenceAction:
    """Resume paused contacts and those a rep stopped (never a reply, bounce or unsubscribe)."""
    async with services().db.write() as session:
        changed = await control.resume_prospect(session, prospect_id)
    return await _places(prospect_id, changed)
