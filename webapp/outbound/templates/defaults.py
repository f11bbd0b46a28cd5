"""What a campaign starts with: a default template per tier, and a sample contact.

The sample context is complete and realistic: templates are test-rendered with
it when they are saved, and previewed with it when the tier has no contact yet.
"""

from __future__ import annotations

from webapp.outbound.templates.sandbox import EmailTemplate

SAMPLE_CONTEXT: dict[str, dict[str, object]] = {
    "contact": {
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "title": "VP of Sales",
        "email": "jane.doe@acme.example",
        "seniority": "vp",
    },
    "prospect": {
        "name": "Acme Corp",
        "domain": "acme.example",
        "industry": "Logistics",
        "country": "United States",
        "employees": 420,
        "revenue": 50_000_000,
        "tier": 1,
    },
    "campaign": {"name": "Q3 outbound", "industry": "Logistics"},
    "sender": {
        "name": "Sam Lee",
        "email": "sam@tune.example",
        "title": "Account Executive",
        "company": "Tune",
        "signature": "Sam Lee, Account Executive at Tune",
    },
}
"""A complete, realistic context: used to test-render templates on save, and for previews."""


DOCUMENT = (  # Tune's email layout; a Markdown template's HTML goes where {body} is
    '<!DOCTYPE html>\n<html>\n<body style="margin:0;padding:24px;'
    'font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:22px;color:#1f2937;">\n'
    "{body}</body>\n</html>\n"
)
_SIGNATURE = (
    "<p>Best,<br>\n{{ sender.name }}"
    "{% if sender.title %}<br>\n{{ sender.title }}{% endif %}"
    "{% if sender.company %}, {{ sender.company }}{% endif %}</p>\n"
)

DEFAULT_TEMPLATES: dict[int, EmailTemplate] = {
    1: EmailTemplate(
        subject=(
            "{% if prospect.name %}{{ prospect.name }}'s pipeline this quarter"
            "{% else %}Your pipeline this quarter{% endif %}"
        ),
        html=DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                "<p>{% if contact.title %}As {{ contact.title }} at "
                '{{ prospect.name or "your company" }}, you{% else %}You{% endif %} '
                "probably spend more time than you would like working out which accounts are "
                "worth a conversation this quarter"
                "{% if prospect.industry %}, especially in {{ prospect.industry|lower }}"
                "{% endif %}.</p>\n"
                "<p>We help sales teams like yours at "
                '{{ prospect.name or "companies your size" }} focus on the accounts that are '
                "ready to talk, and see which messages actually land.</p>\n"
                "<p>Would a 20-minute call next week be useful? "
                '<a href="https://example.com/book-a-call">Pick a time that suits you</a>, '
                "or just reply to this email.</p>\n"
                "<p>If it helps, here is "
                '<a href="https://example.com/case-study">how a similar team doubled its '
                "reply rate</a>.</p>\n" + _SIGNATURE
            )
        ),
    ),
    2: EmailTemplate(
        subject='A quick idea for {{ prospect.name or "your team" }}',
        html=DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                '<p>Teams like {{ prospect.name or "yours" }} use us to find the accounts '
                "that are ready to buy and to see which outreach gets replies.</p>\n"
                "<p>Worth a short call to see if it fits? "
                '<a href="https://example.com/book-a-call">Book 15 minutes here</a>.</p>\n'
                + _SIGNATURE
            )
        ),
    ),
    3: EmailTemplate(
        subject="Quick question{% if contact.first_name %}, {{ contact.first_name }}{% endif %}",
        html=DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                "<p>Are you the right person to talk to about outbound sales at "
                '{{ prospect.name or "your company" }}? If so, '
                '<a href="https://example.com/book-a-call">here is my calendar</a>.</p>\n'
                + _SIGNATURE
            )
        ),
    ),
}
