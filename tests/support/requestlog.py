"""What one request leaves behind: its single access-log line and one more count in the
request metric under its Quart rule, checked alike by the tests of every path that
answers it (the Quart route and the API layer in front of it)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.apipaths import RID
from webapp.core import metrics


async def logged_and_counted(
    client: Any,
    path: str,
    headers: dict[str, str],
    rule: str,
    caplog: pytest.LogCaptureFixture,
) -> str:
    """GET `path` with `headers` and the fixed request id through `client` (Quart's test
    client or an `AsgiClient`); assert it is answered 200, counted once under `rule` and
    logged in one line naming the whole rule and the request id; return that line."""
    counted = metrics.HTTP_REQUESTS.labels("GET", rule, "200")._value.get()
    caplog.clear()
    caplog.set_level(logging.INFO)
    response = await client.get(path, headers={**headers, **RID})
    assert response.status_code == 200
    assert metrics.HTTP_REQUESTS.labels("GET", rule, "200")._value.get() == counted + 1
    lines = [record.getMessage() for record in caplog.records if "request" in record.getMessage()]
    assert len(lines) == 1
    assert f"{rule}'" in lines[0] or f'{rule}"' in lines[0]  # the whole rule, no more
    assert "fixed-request-id" in lines[0]
    return lines[0]
