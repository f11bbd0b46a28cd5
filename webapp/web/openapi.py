"""The OpenAPI 3 document of the JSON API, served at `/openapi.json`.

Written by hand next to the routes; `tests/test_openapi.py` checks that every
`/api` route of the app is in it and runs schemathesis against a live server,
so no route answers 5xx and every answer matches what is written here.
"""

from __future__ import annotations

from typing import Any

from webapp import __version__

JSON = "application/json"

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}

CAMPAIGN = {
    "type": "object",
    "required": ["id", "name", "industry", "status", "tracking_enabled", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "industry": {"type": "string"},
        "status": {"type": "string"},
        "tracking_enabled": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

CONTACT = {
    "type": "object",
    "required": ["id", "email", "unsubscribed"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string"},
        "first_name": NULLABLE_STRING,
        "last_name": NULLABLE_STRING,
        "title": NULLABLE_STRING,
        "seniority": NULLABLE_STRING,
        "unsubscribed": {"type": "boolean"},
    },
}

PROSPECT = {
    "type": "object",
    "required": ["id", "campaign_id", "name", "tier", "score", "hot", "contacts"],
    "properties": {
        "id": {"type": "integer"},
        "campaign_id": {"type": "integer"},
        "name": {"type": "string"},
        "domain": NULLABLE_STRING,
        "industry": NULLABLE_STRING,
        "employees": NULLABLE_INT,
        "revenue": NULLABLE_INT,
        "country": NULLABLE_STRING,
        "tier": {"type": "integer", "enum": [1, 2, 3]},
        "score": {"type": "integer"},
        "score_reasons": {"type": "array"},
        "hot": {"type": "boolean"},
        "last_activity_at": NULLABLE_STRING,
        "contacts": {"type": "array", "items": CONTACT},
    },
}

CONTENT = {
    "type": "object",
    "required": ["id", "campaign_id", "contact_id", "tier", "subject", "html", "text"],
    "properties": {
        "id": {"type": "integer"},
        "campaign_id": {"type": "integer"},
        "contact_id": {"type": "integer"},
        "tier": {"type": "integer"},
        "subject": {"type": "string"},
        "html": {"type": "string"},
        "text": {"type": "string"},
        "pixel_url": NULLABLE_STRING,
        "unsubscribe_url": {"type": "string"},
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["url", "tracked_url"],
                "properties": {"url": {"type": "string"}, "tracked_url": {"type": "string"}},
            },
        },
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "send_status": {"type": "string"},
        "sent_at": NULLABLE_STRING,
    },
}

COUNTS = {
    "type": "object",
    "required": ["sent", "opened", "clicked", "replied", "unsubscribed", "bounced", "rates"],
    "properties": {
        "sent": {"type": "integer"},
        "opened": {"type": "object"},
        "clicked": {"type": "object"},
        "replied": {"type": "integer"},
        "unsubscribed": {"type": "integer"},
        "bounced": {"type": "integer"},
        "rates": {"type": "object"},
    },
}

ANY_OBJECT = {"type": "object"}

IMPORT_JOB = {
    "type": "object",
    "required": ["id", "campaign_id", "source", "status", "rows_seen", "errors"],
    "properties": {
        "id": {"type": "integer"},
        "campaign_id": {"type": "integer"},
        "source": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "finished", "failed", "interrupted"]},
        "rows_seen": {"type": "integer"},
        "created": {"type": "integer"},
        "updated": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "created_at": {"type": "string"},
        "finished_at": NULLABLE_STRING,
        "resume": {"type": "string"},
    },
}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": item}, "next_cursor": NULLABLE_STRING},
    }


def _id(name: str, bits: int = 63) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**bits - 1},
    }


PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]

ERROR_STATUSES = {
    "400": "The request could not be understood.",
    "401": "No API key, or a revoked or unknown one.",
    "404": "No such resource.",
    "413": "The body is larger than the server accepts.",
    "415": "Unsupported content type.",
    "422": "An input is invalid; `field` names it.",
    "429": "Over the key's rate limit; see `Retry-After`.",
    "503": "The database (or another dependency) is not answering; retry.",
}


def _operation(
    summary: str,
    ok: dict[str, Any],
    *,
    status: str = "200",
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
    content_type: str = JSON,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": "Success.", "content": {content_type: {"schema": ok}}}
    }
    for code, text in ERROR_STATUSES.items():
        if public and code in {"401", "429"}:
            continue
        responses[code] = {
            "description": text,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": responses,
    }
    if public:
        operation["security"] = []
    if body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {JSON: {"schema": body}},
        }
    return operation


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    campaign_id = _id("campaign_id", 31)
    paths: dict[str, Any] = {
        "/api/health": {
            "get": _operation(
                "Liveness: the process answers.",
                {"type": "object", "required": ["status"], "properties": {"status": {}}},
                public=True,
            )
        },
        "/api/ready": {
            "get": _operation(
                "Readiness: database, migrations and event writer.",
                {"type": "object", "required": ["status", "checks"]},
                public=True,
            )
        },
        "/api/industries": {
            "get": _operation(
                "The industries a campaign can target.",
                page_of(
                    {
                        "type": "object",
                        "required": ["slug", "name", "profile"],
                        "properties": {
                            "slug": {"type": "string"},
                            "name": {"type": "string"},
                            "description": {"type": "string"},
                            "profile": {"type": "string"},
                        },
                    }
                ),
            )
        },
        "/api/campaigns/create": {
            "post": _operation(
                "Create a campaign (inputs in the query string, a form or a JSON body).",
                {**CAMPAIGN, "required": [*CAMPAIGN["required"], "campaign_id"]},
                status="201",
                params=[
                    {"name": "name", "in": "query", "schema": {"type": "string"}},
                    {"name": "industry", "in": "query", "schema": {"type": "string"}},
                ],
                body={
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "industry": {"type": "string"}},
                },
            )
        },
        "/api/campaigns": {
            "get": _operation("Campaigns, newest first.", page_of(CAMPAIGN), params=PAGE_PARAMS)
        },
        "/api/campaigns/{campaign_id}": {
            "get": _operation(
                "One campaign with its counts.",
                {**CAMPAIGN, "required": [*CAMPAIGN["required"], "counts"]},
                params=[campaign_id],
            )
        },
        "/api/campaigns/{campaign_id}/prospects/{tier}": {
            "get": _operation(
                "The prospects of one tier, hot first then by score.",
                page_of(PROSPECT),
                params=[
                    campaign_id,
                    {"name": "tier", "in": "path", "required": True, "schema": {"type": "string"}},
                    *PAGE_PARAMS,
                ],
            )
        },
        "/api/campaigns/{campaign_id}/prospects": {
            "post": _operation(
                "Import prospects: a JSON array of rows or a CSV body.",
                ANY_OBJECT,
                params=[
                    campaign_id,
                    {"name": "strict", "in": "query", "schema": {"type": "string"}},
                    {"name": "encoding", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/imports/{import_id}": {
            "get": _operation(
                "An import's progress and report; an interrupted one says how to resume.",
                IMPORT_JOB,
                params=[_id("import_id", bits=31)],
            )
        },
        "/api/campaigns/{campaign_id}/analyse": {
            "post": _operation(
                "Re-score every prospect with the industry's current profile.",
                ANY_OBJECT,
                params=[campaign_id],
            )
        },
        "/api/prospects/{prospect_id}": {
            "get": _operation(
                "One prospect with contacts, reasons, emails and events.",
                PROSPECT,
                params=[_id("prospect_id")],
            )
        },
        "/api/tracking/{kind}": {
            "post": _operation(
                "Record an open, click or reply reported by your own systems.",
                {"type": "object", "required": ["status"], "properties": {"status": {}}},
                params=[
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "enum": ["email-opened", "email-clicked", "email-replied"],
                        },
                    },
                    {"name": "content_id", "in": "query", "schema": {"type": "integer"}},
                    {"name": "contact_id", "in": "query", "schema": {"type": "integer"}},
                ],
                body={
                    "type": "object",
                    "properties": {
                        "content_id": {"type": "integer"},
                        "contact_id": {"type": "integer"},
                    },
                },
            )
        },
        "/api/campaigns/{campaign_id}/stats": {
            "get": _operation(
                "Campaign statistics from the aggregate counters.",
                {
                    "type": "object",
                    "required": ["campaign_id", "total", "tiers"],
                    "properties": {
                        "campaign_id": {"type": "integer"},
                        "total": COUNTS,
                        "tiers": {"type": "object", "additionalProperties": COUNTS},
                    },
                },
                params=[campaign_id],
            )
        },
        "/api/campaigns/{campaign_id}/contents/generate": {
            "post": _operation(
                "Write the email of every contact that has none yet.",
                {
                    "type": "object",
                    "required": ["campaign_id", "created", "existing"],
                    "properties": {
                        "campaign_id": {"type": "integer"},
                        "created": {"type": "integer"},
                        "existing": {"type": "integer"},
                    },
                },
                params=[campaign_id],
            )
        },
        "/api/campaigns/{campaign_id}/contents": {
            "get": _operation(
                "The campaign's emails, paged.",
                page_of(CONTENT),
                params=[campaign_id, *PAGE_PARAMS],
            )
        },
        "/api/contents/{content_id}": {
            "get": _operation("One email.", CONTENT, params=[_id("content_id")])
        },
        "/api/campaigns/{campaign_id}/send": {
            "post": _operation(
                "Queue the campaign's drafts for sending (of `tier`, or all).",
                ANY_OBJECT,
                params=[
                    campaign_id,
                    {"name": "tier", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/campaigns/{campaign_id}/sending": {
            "get": _operation(
                "Emails per send status, and the state of this server's sender.",
                ANY_OBJECT,
                params=[campaign_id],
            )
        },
        "/api/campaigns/{campaign_id}/export.mbox": {
            "get": _operation(
                "Every email as an RFC 5322 message (mboxrd), streamed.",
                {"type": "string"},
                params=[campaign_id],
                content_type="application/mbox",
            )
        },
        "/api/campaigns/{campaign_id}/export.csv": {
            "get": _operation(
                "One CSV row per email, streamed.",
                {"type": "string"},
                params=[campaign_id],
                content_type="text/csv",
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tune API",
            "version": __version__,
            "description": (
                "Campaign and prospect tracking. Every route except /api/health and "
                "/api/ready needs an API key. Errors always have the shape "
                '{"error": {"code", "message", "field"?}}. See docs/api.md.'
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": ERROR},
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": paths,
    }
