"""What a recipient sees of the mailbox an email leaves from, over REAL SMTP relays
(aiosmtpd), on SQLite and PostgreSQL: its From, its name where the template says
`{{ sender.name }}` (subject, HTML and text), and a Message-ID in its domain."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol

from tests.support.factories import add_contacts
from tests.support.mailboxes import MAILBOX_FAST, Provider, add_mailbox
from tests.support.sending import make_sender, send_all
from webapp.outbound.contents import save_template
from webapp.web.services import Services

TEMPLATE = "<p>Hello {{ contact.first_name }},</p><p>Best,<br>{{ sender.name }}</p>"
IDENTITIES = {"alpha": ("Ana Álpha & Co", "ana@alpha.test"), "beta": ("Ben Beta", "ben@beta.test")}


async def test_each_email_carries_its_mailboxs_name_and_domain(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    for name, (from_name, address) in IDENTITIES.items():
        await add_mailbox(tune, providers[name], from_name=from_name, from_address=address)
    campaign_id = await add_contacts(tune, 6, first_name="Lee")
    async with tune.db.write() as session:
        await save_template(session, campaign_id, 1, "A note from {{ sender.name }}", TEMPLATE)
    chosen = await client.put(
        f"/api/campaigns/{campaign_id}/mailboxes",
        json={"mailboxes": list(IDENTITIES)},
        headers=auth,
    )
    assert chosen.status_code == 200
    sent = await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    assert sent.status_code == 202

    config = tune.config.with_changes(smtp_from="Tune Team <team@tune.test>")
    sender = make_sender(tune, config, policy=MAILBOX_FAST)
    await send_all(sender, campaign_id)

    seen = 0
    for name, (from_name, address) in IDENTITIES.items():
        for message in providers[name].handler.messages:
            seen += 1
            domain = address.split("@")[1]
            assert message["From"].addresses[0].display_name == from_name
            assert message["From"].addresses[0].addr_spec == address
            assert message["Subject"] == f"A note from {from_name}"
            assert str(message["Message-ID"]).endswith(f"@{domain}>")
            html = message.get_body(preferencelist=("html",))
            text = message.get_body(preferencelist=("plain",))
            assert html is not None and text is not None
            assert "Best,<br>" + from_name.replace("&", "&amp;") in html.get_content()
            assert from_name in text.get_content()
            for part in (html.get_content(), text.get_content(), message["Subject"]):
                assert "Tune Team" not in part and "tune-sender-name" not in part
    assert seen == 6
