"""The per-tier template editor and its live preview."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.dashboard import seed
from tests.support.signin import page, post_form, token
from webapp.core.models import EmailTemplateRow
from webapp.web.services import Services


async def test_templates_page_previews_each_tier_for_a_sample_contact(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    status, html = await page(signed_in, f"/campaigns/{ids['campaign']}/templates")
    assert status == 200
    for tier in (1, 2, 3):
        assert f'id="subject-{tier}"' in html and f'id="preview-{tier}"' in html
    assert "Preview for sam@hotsprings.example" in html  # tier 1's top prospect (hot)
    assert "Preview for jane.doe@acme.example" in html  # tier 3 has none: the sample


async def test_template_preview_renders_and_reports_syntax_errors_with_line(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}/templates/1/preview"
    csrf = await token(signed_in)
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    response = await signed_in.post(
        path,
        form={"subject": "Hi {{ contact.first_name }}", "html": "<p>For {{ prospect.name }}</p>"},
        headers=headers,
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hi Sam" in html and "For Hot Springs Resort" in html
    response = await signed_in.post(
        path,
        form={"subject": "Hi", "html": "<p>ok</p>\n<p>{{ contact.first_name }</p>"},
        headers=headers,
    )
    html = await response.get_data(as_text=True)
    assert "Line 2 of the body:" in html and 'role="alert"' in html


async def test_saving_a_template_keeps_it_or_shows_the_error_inline(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}/templates/2"
    response = await post_form(
        signed_in, path, {"subject": "Hello {{ contact.first_name }}", "html": "<p>New body</p>"}
    )
    assert response.status_code == 303
    _, html = await page(signed_in, response.headers["Location"].split("#")[0])
    assert "Saved. New emails for tier 2 use this template." in html
    async with tune.db.read() as session:
        row = await session.scalar(
            select(EmailTemplateRow).where(
                EmailTemplateRow.campaign_id == ids["campaign"], EmailTemplateRow.tier == 2
            )
        )
        assert row is not None and row.html == "<p>New body</p>"
    response = await post_form(
        signed_in, path, {"subject": "Hi {{ contact.nickname }}", "html": "<p>x</p>"}
    )
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert "unknown merge field &#39;contact.nickname&#39;" in html
    assert 'value="Hi {{ contact.nickname }}"' in html
