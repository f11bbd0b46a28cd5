"""Size guards: each operation that could build a huge value is refused before it runs.

Each case would, unguarded, build hundreds of megabytes or run for minutes in
one step. The test checks that it is refused with its template line, quickly,
and without the memory it would have taken (tracemalloc's peak).
"""

from __future__ import annotations

import time
import tracemalloc

import pytest

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.defaults import SAMPLE_CONTEXT
from webapp.outbound.templates.guards import MAX_VALUE_CHARS, weight
from webapp.outbound.templates.render import render_email
from webapp.outbound.templates.sandbox import EmailTemplate

BIG = "{% set s = 'x' * 900000 %}\n"
"""A string just under the value limit, on line 1; the guarded operation is on line 2."""

GUARDED = {
    "sequence multiplication": "{% set x = [[1] * 1000000] * 400 %}{{ x }}",
    "nested multiplication": "{% set x = [[1] * 1000] * 1000 %}",
    "string repetition": BIG + "{{ s * 2 }}",
    "repetition of a tuple of large strings": BIG + "{{ (s,) * 1000 }}",
    "concatenation with ~": BIG + "{% set l = [s, s] %}{{ 'a' ~ l }}",
    "adding sequences": BIG + "{{ [s] + [s] }}",
    "join": BIG + "{{ [s, s]|join(',') }}",
    "tojson": BIG + "{{ [s, s]|tojson }}",
    "tojson with a wide indent": "{% set r = range(1000)|list %}\n{{ r|tojson(indent=1000) }}",
    "sum with a start list": "{% set rows = [[1]] * 100000 %}\n{{ rows|sum(start=[])|length }}",
    "range": "{% set r = 1 %}\n{% for i in range(1001) %}{% endfor %}",
    "printing a huge value": BIG + "{% set l = [s, s, s, s, s] %}{{ l }}",
    "a filter given a huge value": BIG + "{% set l = [s, s, s, s, s] %}{{ l|sort }}",
}


@pytest.mark.parametrize("html", GUARDED.values(), ids=GUARDED.keys())
def test_operations_that_build_huge_values_are_refused_before_they_run(html: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as caught:
        render_email(EmailTemplate("Hi", html), SAMPLE_CONTEXT)
    assert time.monotonic() - started < 1
    tracemalloc.start()
    try:
        with pytest.raises(ValidationFailed):
            render_email(EmailTemplate("Hi", html), SAMPLE_CONTEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the 900 kB string, a few copies at most: never the result
    expected_line = html.count("\n") + 1
    assert caught.value.message.startswith(f"html line {expected_line}: ")
    assert caught.value.field == "html"


def test_values_up_to_the_limit_still_render() -> None:
    html = (
        "{% set s = 'x' * 400000 %}{{ (s ~ s)|length }}|{{ [s, s]|join|length }}"
        "|{{ ([1, 2] * 3)|sum }}|{{ [[1], [2]]|sum(start=[]) }}|{{ {'a': [1, 2]}|tojson }}"
    )
    email = render_email(EmailTemplate("Hi", html), SAMPLE_CONTEXT)
    assert email.html == '800000|800000|9|[1, 2]|{"a": [1, 2]}'


def test_weight_counts_shared_values_each_time_and_stops_past_the_limit() -> None:
    text = "x" * 1000
    assert weight([text, text]) > 2000
    shared = [text] * 2000
    started = time.monotonic()
    assert weight([shared] * 2000) > MAX_VALUE_CHARS  # 4 GB when printed
    assert time.monotonic() - started < 0.5
