"""Email templates: merge fields, escaping, header safety, validation and the sandbox."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES, SAMPLE_CONTEXT
from webapp.outbound.templates.guards import MAX_RANGE
from webapp.outbound.templates.render import render_email, validate_template
from webapp.outbound.templates.sandbox import EmailTemplate


@dataclass
class Contact:
    first_name: str | None
    last_name: str | None
    title: str | None
    email: str = "jane@acme.example"
    seniority: str | None = None


def render_html(html: str, context: dict[str, object] | None = None) -> str:
    return render_email(EmailTemplate("Hello", html), context or SAMPLE_CONTEXT).html


def render_subject(subject: str, context: dict[str, object] | None = None) -> str:
    return render_email(EmailTemplate(subject, "<p>x</p>"), context or SAMPLE_CONTEXT).subject


def with_contact(**fields: object) -> dict[str, object]:
    return {**SAMPLE_CONTEXT, "contact": {**SAMPLE_CONTEXT["contact"], **fields}}


# --- merge fields --------------------------------------------------------------


def test_merge_fields_render_from_mappings() -> None:
    html = (
        "{{ contact.first_name }} {{ contact.last_name }}, {{ contact.title }} at "
        "{{ prospect.name }} ({{ prospect.domain }}) / {{ campaign.name }} / {{ sender.name }}"
    )
    assert render_html(html) == (
        "Jane Doe, VP of Sales at Acme Corp (acme.example) / Q3 outbound / Sam Lee"
    )


def test_merge_fields_render_from_dataclasses() -> None:
    context = {**SAMPLE_CONTEXT, "contact": Contact("Ana", "Lima", "CTO")}
    assert render_html("{{ contact.first_name }} ({{ contact.title }})", context) == "Ana (CTO)"


def test_missing_and_empty_fields_render_empty_and_fall_back() -> None:
    context: dict[str, object] = {"contact": {"first_name": None}, "prospect": {}}
    html = (
        'Hi {{ contact.first_name or "there" }}|{{ contact.title }}|{{ sender.name }}|'
        "{{ prospect.employees + 1 }}|"
        "{% if prospect.employees > 100 %}big{% else %}small{% endif %}"
    )
    assert render_html(html, context) == "Hi there||||small"


def test_an_unknown_field_renders_empty_at_send_time() -> None:
    assert render_html("[{{ contact.nickname }}]") == "[]"


def test_contact_data_is_html_escaped_in_the_body() -> None:
    context = with_contact(first_name="<script>alert(1)</script>", last_name='"Bob" & co')
    html = render_html("<p>Hi {{ contact.first_name }} {{ contact.last_name }}</p>", context)
    assert "<script>" not in html
    assert html == ("<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; &#34;Bob&#34; &amp; co</p>")


def test_contact_data_is_escaped_inside_concatenation_too() -> None:
    context = with_contact(first_name="<b>x</b>")
    assert render_html("{{ 'Hi ' ~ contact.first_name }}", context) == "Hi &lt;b&gt;x&lt;/b&gt;"


def test_the_subject_is_plain_text_not_html() -> None:
    context = with_contact(first_name="AT&T <Jane>")
    assert render_subject("Hi {{ contact.first_name }}", context) == "Hi AT&T <Jane>"


@pytest.mark.parametrize("separator", ["\r\n", "\n", "\r", "\x0b", "\x85", "\u2028", "\x00"])
def test_line_breaks_in_the_subject_are_removed(separator: str) -> None:
    context = with_contact(first_name=f"Jane{separator}Bcc: attacker@evil.example")
    subject = render_subject("Hi {{ contact.first_name }}", context)
    assert subject == "Hi Jane Bcc: attacker@evil.example"


def test_line_breaks_written_in_the_subject_template_are_removed() -> None:
    assert render_subject("Hello\r\n  {{ contact.first_name }}\n") == "Hello Jane"


def test_a_rendered_subject_is_cut_to_the_column_size() -> None:
    context = with_contact(first_name="x" * 500)
    assert len(render_subject("{{ contact.first_name }}", context)) == 300


# --- validation ------------------------------------------------------------------


def test_a_syntax_error_reports_field_and_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template("Hi", "<p>Hello</p>\n<p>\n{{ contact.first_name }\n</p>")
    error = caught.value
    assert error.field == "html"
    assert error.details["line"] == 3
    assert error.message == "html line 3: unexpected '}'"


def test_a_subject_syntax_error_names_the_subject() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template("Hi {% if %}", "<p>x</p>")
    assert caught.value.field == "subject"
    assert caught.value.details["line"] == 1
    assert caught.value.message.startswith("subject line 1: ")


def test_unknown_merge_fields_are_rejected_on_save_with_their_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template("Hi", "<p>\n{{ contact.frist_name }}</p>")
    assert caught.value.details["line"] == 2
    assert "contact.frist_name" in caught.value.message
    with pytest.raises(ValidationFailed, match="unknown merge field 'company'"):
        validate_template("Hi {{ company }}", "<p>x</p>")


def test_loop_variables_and_macros_are_not_unknown_fields() -> None:
    validate_template(
        "Hi",
        "{% macro hello(name) %}Hi {{ name }}{% endmacro %}{{ hello(contact.first_name) }}"
        "{% for word in ['a', 'b'] %}{{ loop.index }}{{ word }}{% endfor %}"
        "{% set greeting = 'Hey' %}{{ greeting }}",
    )


def test_bodies_over_200_kb_are_rejected() -> None:
    validate_template("Hi", "<p>" + "x" * 199_000 + "</p>")
    with pytest.raises(ValidationFailed) as caught:
        validate_template("Hi", "<p>" + "x" * 200_001 + "</p>")
    assert caught.value.field == "html"
    assert "200 kB" in caught.value.message


def test_over_long_or_empty_subjects_are_rejected() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template("x" * 301, "<p>x</p>")
    assert caught.value.field == "subject"
    with pytest.raises(ValidationFailed, match="subject renders empty"):
        validate_template("  {{ contact.title if false }}\r\n", "<p>x</p>")


def test_validation_test_renders_and_reports_runtime_errors_with_their_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template("Hi", "<p>ok</p>\n<p>{{ prospect.employees / 0 }}</p>")
    assert caught.value.message == "html line 2: division by zero"


def test_runtime_errors_do_not_leak_python_details() -> None:
    with pytest.raises(ValidationFailed) as caught:
        render_html("{{ contact.first_name + 1 }}")
    assert caught.value.message == "html line 1: an expression could not be evaluated"


@pytest.mark.parametrize(
    ("html", "construct"),
    [
        ("{% include 'secrets.html' %}", "include"),
        ("{% extends 'base.html' %}", "extends"),
        ("{% import 'macros.html' as m %}", "import"),
        ("{% autoescape false %}{{ contact.first_name }}{% endautoescape %}", "autoescape"),
        ("{{ contact.first_name|safe }}", "safe"),
        ("{{ '%s'|format(contact.first_name) }}", "format"),
    ],
)
def test_constructs_that_weaken_the_sandbox_are_refused(html: str, construct: str) -> None:
    with pytest.raises(ValidationFailed, match=construct):
        validate_template("Hi", html)
    with pytest.raises(ValidationFailed):
        render_html(html)


# --- the sandbox ---------------------------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ contact['__class__'] }}",
    "{% set key = '__cla' ~ 'ss__' %}{{ contact[key] }}",
    "{{ contact|attr('__class__') }}",
    "{{ ''.format }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ ('{0.__class__}'|attr('format'))('') }}",
    "{{ '{x.__class__}'.format_map({'x': ''}) }}",
    "{{ cycler }}",
    "{{ range }}",
    "{{ contact.items }}",
    "{{ lipsum(3) }}",
]


@pytest.mark.parametrize("html", ESCAPES)
def test_sandbox_escapes_are_refused_without_exposing_internals(html: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        render_html(html)
    message = caught.value.message
    assert message.startswith("html line 1: ")
    for leak in ("0x", "<class", "built-in", "function ", "jinja2", "Traceback", "os.", "popen"):
        assert leak not in message
    with pytest.raises(ValidationFailed):
        validate_template("Hi", html)


@pytest.mark.parametrize("name", ["config", "request", "session", "g", "os", "__builtins__"])
def test_names_the_caller_did_not_supply_render_empty_and_fail_validation(name: str) -> None:
    assert render_html(f"[{{{{ {name} }}}}]") == "[]"
    with pytest.raises(ValidationFailed, match="unknown merge field"):
        validate_template("Hi", f"{{{{ {name} }}}}")


@pytest.mark.parametrize(
    "html",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(0, 10**9, 1) %}{% endfor %}",
        "{{ range(10**9)|list|length }}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}xyz{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ ['x'] * 1000000000 }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ ('x' * 999999)|indent(10000) }}",
        "{{ ('\\n' * 100000)|indent(1000) }}",
        "{{ ('x' * 100000)|replace('', 'yyyyyyyyyyyy') }}",
        "{{ ('x' * 100000).replace('x', 'yyyyyyyyyyyy') }}",
        "{{ range(1000)|join('x' * 10000) }}",
        "{{ 10 ** 100000 }}",
        "{{ (9 ** 99) ** 999 }}",
        "{{ '%999999999d' % 1 }}",
        "{% set s = 'xxxxxxxxxx' %}"
        + "{% set s = s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s %}" * 7
        + "{{ s|length }}",
        "{% set s %}{% for i in range(1000) %}{{ 'x' * 999999 }}{% endfor %}{% endset %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% for x in [1] recursive %}{{ loop([1, 1]) }}{{ loop([1, 1]) }}{% endfor %}",
        "{{ ''.ljust(1000000000) }}",
        "{{ 'a'.zfill(1000000000) }}",
    ],
)
def test_resource_exhaustion_is_refused_quickly(html: str) -> None:
    before = slowdown()
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as caught:
        render_html(html)
    took = time.monotonic() - started
    # 3 s on a machine to ourselves; longer only as much as other work slows all work.
    assert took < 3 * max(1.0, before, slowdown()), took
    assert caught.value.field == "html"
    assert caught.value.details.get("line") == 1


def slowdown() -> float:
    """How many times its CPU time a fixed piece of work takes right now: 1 on a machine
    to ourselves, more while other processes take turns on the cores."""
    wall, cpu = time.monotonic(), time.thread_time()
    sum(range(1_000_000))
    return (time.monotonic() - wall) / max(time.thread_time() - cpu, 1e-6)


def test_range_up_to_the_limit_still_works() -> None:
    assert render_html(f"{{{{ range({MAX_RANGE})|list|length }}}}") == str(MAX_RANGE)


def test_ordinary_template_features_still_work() -> None:
    html = (
        "{% set items = ['fast', 'honest'] %}"
        "{% for item in items %}{{ loop.index }}.{{ item|upper }}{{ ', ' if not loop.last }}"
        "{% endfor %}|{{ prospect.name|replace('Corp', 'Inc.') }}|{{ contact.title|lower }}"
        "|{{ prospect.employees * 2 }}|{{ '%.1f'|length }}|{{ items|join('/') }}"
        "|{{ contact.first_name.upper() }}|{{ prospect.name.split()|first }}"
        "|{% if contact.title.startswith('VP') %}exec{% endif %}"
    )
    assert render_html(html) == (
        "1.FAST, 2.HONEST|Acme Inc.|vp of sales|840|4|fast/honest|JANE|Acme|exec"
    )


# --- defaults -------------------------------------------------------------------------


def test_there_are_defaults_for_tiers_1_2_and_3() -> None:
    assert sorted(DEFAULT_TEMPLATES) == [1, 2, 3]


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_default_templates_validate_and_render_with_a_sample_context(tier: int) -> None:
    template = DEFAULT_TEMPLATES[tier]
    validate_template(template.subject, template.html)
    email = render_email(template, SAMPLE_CONTEXT)
    assert "Hi Jane," in email.html
    assert "Sam Lee" in email.html
    assert "https://example.com/" in email.html
    assert "{{" not in email.html and "{%" not in email.html
    assert email.subject and "\n" not in email.subject


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_default_templates_render_sensibly_with_nothing_known(tier: int) -> None:
    email = render_email(DEFAULT_TEMPLATES[tier], {})
    assert "Hi there," in email.html
    assert "None" not in email.html and "None" not in email.subject
    assert email.subject.strip() == email.subject and "  " not in email.subject


def test_tier_1_is_the_most_personal() -> None:
    email = render_email(DEFAULT_TEMPLATES[1], SAMPLE_CONTEXT)
    assert "VP of Sales at Acme Corp" in email.html
    assert "Acme Corp" in email.subject
    tier_3 = render_email(DEFAULT_TEMPLATES[3], SAMPLE_CONTEXT)
    assert len(tier_3.html) < len(email.html)


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("Choice Hotels", "Choice Hotels' pipeline this quarter"),
        ("Acme Corp", "Acme Corp's pipeline this quarter"),
        ("", "Your pipeline this quarter"),
    ],
)
def test_the_default_subject_writes_the_possessive_of_any_name(name: str, subject: str) -> None:
    context = {**SAMPLE_CONTEXT, "prospect": {**SAMPLE_CONTEXT["prospect"], "name": name}}
    assert render_email(DEFAULT_TEMPLATES[1], context).subject == subject
    assert render_subject("{{ prospect.missing|possessive }}!", context) == "!"
