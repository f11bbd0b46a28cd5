"""Shapes and input types shared by the API's resource modules.

Every request and response of `/api` is a pydantic model declared once, beside
the routes that use it or here when several resources share it; quart-schema
validates with them and builds `/openapi.json` from them. Every text input is a
`Text`, so no value the database cannot store gets past validation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)
from quart_schema import DataSource
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
)

from webapp.core.errors import ValidationFailed
from webapp.core.paging import PageRequest
from webapp.core.text import unstorable_character
from webapp.web.inputs import params
from webapp.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    KeyShape,
    decode_cursor,
    encode_cursor,
)

MAX_ID = 2**62


def _storable(value: str) -> str:
    problem = unstorable_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _whole_number(value: object) -> object:
    """Digits only: `1.5`, `"1_0"`, `"١"`, `true` and `" 1"` are not ids."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be a positive whole number")


def _positive(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise ValueError("must be a positive whole number")
    return value


def _optional_whole_number(value: object) -> object:
    return None if value in (None, "") else _whole_number(value)


Text = Annotated[str, AfterValidator(_storable)]
"""Any text input: refused when it holds a character the database cannot store."""

Id = Annotated[
    int,
    BeforeValidator(_whole_number),
    AfterValidator(_positive),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID}),
]
"""A row id given as input: a positive whole number, in JSON or in digits."""

Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Shape(BaseModel):
    """Base of every shape: read from ORM rows and dataclasses by attribute; a field's
    docstring is its description in `/openapi.json`."""

    model_config = ConfigDict(from_attributes=True, use_attribute_docstrings=True)


class PlainShape(Shape):
    """A shape answered by pydantic's own JSON encoder, skipping quart-schema's conversion
    to dicts and the standard library's encoder (`webapp.web.api.install`).

    Only for shapes whose fields, nested ones included, are integers, floats,
    booleans, fixed ASCII words and dicts or lists of them: their JSON from pydantic
    is then byte for byte what Quart would write (tests/web/api/test_shapes.py).
    No free text (Quart escapes non-ASCII characters, pydantic does not) and no
    dates (Quart writes them as HTTP dates).
    """


class ErrorBody(Shape):
    code: str
    message: str
    field: str | None = None


class Error(Shape):
    """The one error shape; `field` names the input to blame, when one is."""

    error: ErrorBody


ItemT = TypeVar("ItemT")


class Page(Shape, Generic[ItemT]):
    """The one list shape; pass `next_cursor` back as `?cursor=` for the next page."""

    items: list[ItemT]
    next_cursor: str | None

    @classmethod
    def of(cls, items: list[ItemT], next_key: list[Any] | None) -> Page[ItemT]:
        return cls(items=items, next_cursor=encode_cursor(next_key) if next_key else None)


class PageQuery(Shape):
    """`?limit=` (1–500, default 50) and `?cursor=` of every list."""

    limit: Annotated[
        int | None,
        BeforeValidator(_optional_whole_number),
        Field(ge=1, le=MAX_LIMIT),
    ] = DEFAULT_LIMIT
    cursor: Text | None = None

    def page(self, key: KeyShape) -> PageRequest:
        """The page asked for, its cursor checked against the list's sort key."""
        after = decode_cursor(self.cursor, key) if self.cursor else None
        return PageRequest(limit=self.limit or DEFAULT_LIMIT, after=after)


def validation_failed(error: ValidationError) -> ValidationFailed:
    """The first problem pydantic found, as the API's 422 naming the field."""
    problem = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in problem["loc"]) or None
    if problem["type"] == "missing":
        message = "is required"
    elif problem["type"] == "value_error":
        message = str(problem.get("ctx", {}).get("error", problem["msg"]))
    elif problem["type"] in {"greater_than_equal", "less_than_equal"} and field == "limit":
        message = f"must be between 1 and {MAX_LIMIT}"
    else:
        message = problem["msg"][:1].lower() + problem["msg"][1:]
    return ValidationFailed(f"{field} {message}" if field else message, field=field)


def validate_params(model: type[BaseModel]) -> Callable[..., Any]:
    """Like quart-schema's `validate_request`, for inputs given in the query string *or*
    a JSON object body (the body wins): the route gets the model as `data`.

    Both ways are documented in `/openapi.json`: the fields as query parameters and
    as the (optional) JSON body.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model)
        setattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = await params()
            try:
                data = model.model_validate(values)
            except ValidationError as error:
                raise validation_failed(error) from None
            return await func(*args, data=data, **kwargs)

        return wrapper

    return decorator


STREAMS_ATTRIBUTE = "_tune_streams"
FuncT = TypeVar("FuncT", bound=Callable[..., Any])


def streams(content_type: str) -> Callable[[FuncT], FuncT]:
    """Document a route that answers a streamed file of `content_type` rather than a shape."""

    def decorator(func: FuncT) -> FuncT:
        setattr(func, STREAMS_ATTRIBUTE, content_type)
        return func

    return decorator
