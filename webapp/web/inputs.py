"""Reading request input: JSON bodies and parameters given in the query or the body."""

from __future__ import annotations

import json
from typing import Any

from quart import request

from webapp.core.errors import BadRequest, UnsupportedMediaType


async def json_body(*, required: bool = False) -> Any:
    """The JSON body, None when there is none; 400 when malformed, 415 when not JSON."""
    data = await request.get_data()
    if not data:
        if required:
            raise BadRequest("a JSON body is required")
        return None
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"expected Content-Type: application/json, got {request.mimetype or 'none'}"
        )
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the request body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None


async def params() -> dict[str, Any]:
    """Query parameters overlaid with a JSON object body (the body wins)."""
    values: dict[str, Any] = dict(request.args.items())
    body = await json_body()
    if body is not None:
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object")
        values.update(body)
    return values
