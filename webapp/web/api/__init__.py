"""The JSON API: one module per resource on one blueprint, described by quart-schema.

`install` registers the blueprint and quart-schema, which validates inputs and
answers with the pydantic shapes of each route and serves `/openapi.json`,
generated from those shapes. quart-schema's HTML viewers load their scripts
from a CDN, which Tune's CSP forbids, so they are off.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import quart_schema.conversion
from pydantic import TypeAdapter, ValidationError
from quart import Quart, Response
from quart_schema import Info, OpenAPIProvider, QuartSchema, RequestSchemaValidationError
from werkzeug.routing import Rule

from webapp import __version__
from webapp.core.errors import BadRequest
from webapp.web.api import (  # noqa: F401  (each module adds its routes to the blueprint)
    campaigns,
    contents,
    deliverability,
    engagement,
    exports,
    followups,
    industries,
    mailboxes,
    prospects,
    sending,
    sequences,
    tracking,
    webhooks,
)
from webapp.web.api.keys import MAX_ID, MAX_IDS, blueprint
from webapp.web.api.shapes import STREAMS_ATTRIBUTE, Error, PlainShape, validation_failed

ERROR_STATUSES = {
    400: "The request could not be understood.",
    401: "No API key, or a revoked or unknown one.",
    404: "No such resource.",
    413: "The body is larger than the server accepts.",
    415: "Unsupported content type.",
    422: "An input is invalid; `field` names it.",
    429: "Over the key's rate limit; see `Retry-After`.",
    503: "The database (or another dependency) is not answering; retry.",
}
PUBLIC = {"/api/health", "/api/ready"}
"""Routes that need no key (and so are never rate-limited)."""


class TuneOpenAPI(OpenAPIProvider):
    """quart-schema's document of the `/api` routes, with what every route shares:
    the error answers, the id ranges of path parameters, and the public routes."""

    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules() if rule.rule.startswith("/api"))

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        content_type = getattr(self._app.view_functions[rule.endpoint], STREAMS_ATTRIBUTE, None)
        components["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["Error"].pop("$defs", {}))
        for path, operations in paths.items():
            for operation in operations.values():
                if content_type is not None:
                    operation["responses"][200] = {
                        "description": "The file, streamed.",
                        "content": {content_type: {"schema": {"type": "string"}}},
                    }
                self._complete(path, operation)
        return paths, components

    def _complete(self, path: str, operation: dict[str, Any]) -> None:
        public = path in PUBLIC
        if public:
            operation["security"] = []
        for parameter in operation["parameters"]:
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                bound = MAX_IDS.get(parameter["name"], MAX_ID)
                parameter["schema"].update(minimum=0, maximum=bound)
        for status, description in ERROR_STATUSES.items():
            if public and status in {401, 429}:
                continue
            operation["responses"].setdefault(
                status,
                {
                    "description": description,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            )
        for response in operation["responses"].values():
            response["description"] = response.get("description") or "Success."


JSON = "application/json"


def plain_json(value: PlainShape) -> bytes:
    """What Quart's JSON provider writes for `value` (compact, newline-terminated)."""
    return value.__pydantic_serializer__.to_json(value) + b"\n"


@functools.lru_cache(maxsize=512)
def _cached_adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def reused_adapter(kind: Any) -> TypeAdapter[Any]:
    """One pydantic TypeAdapter per type, built once.

    quart-schema builds a new TypeAdapter for every dict or list it converts
    (every error answer and its headers, every route returning a dict) and for
    every response it validates; building one costs more than the conversion
    itself. An adapter depends only on its type, so reusing it changes no
    answer and no line of `/openapi.json`.
    """
    try:
        return _cached_adapter(kind)
    except TypeError:  # an unhashable type: build it as quart-schema would
        return TypeAdapter(kind)


def install(app: Quart) -> None:
    """Register the API blueprint and generate its OpenAPI document at `/openapi.json`."""
    quart_schema.conversion.TypeAdapter = reused_adapter  # type: ignore[misc,assignment]
    app.register_blueprint(blueprint)
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info=Info(
            title="Tune API",
            version=__version__,
            description=(
                "Campaign and prospect tracking. Every route except /api/health and "
                "/api/ready needs an API key. Errors always have the shape "
                '{"error": {"code", "message", "field"?}}. See docs/api.md.'
            ),
        ),
        servers=[{"url": "/"}],
        security_schemes={
            "apiKey": {"type": "apiKey", "in_": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
        security=[{"apiKey": []}, {"bearer": []}],
        openapi_provider_class=TuneOpenAPI,
    )

    converting = app.make_response

    async def make_response(result: Any) -> Any:
        """A ready Response needs no conversion (quart-schema would test it against
        pydantic, msgspec, attrs and dataclass types on every request), and a
        `PlainShape` is written by pydantic's encoder, the same bytes in a third
        of the time of a conversion to dicts and the standard library's encoder."""
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 3 and result[2] is None:
            value, status, _ = result
            if isinstance(value, PlainShape) and isinstance(status, int):
                return Response(plain_json(value), status=status, content_type=JSON)
        return await converting(result)

    app.make_response = make_response  # type: ignore[method-assign]

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_input(error: RequestSchemaValidationError) -> Any:
        """quart-schema's 400 becomes the API's 422 naming the field."""
        cause = error.validation_error
        if isinstance(cause, ValidationError):
            return await app.handle_user_exception(validation_failed(cause))
        return await app.handle_user_exception(BadRequest("the request could not be understood"))
