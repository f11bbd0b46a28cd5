"""Tune's failure classes and their mapping to HTTP.

Domain code raises one of these; `register_error_handlers` turns each into the
one JSON error shape for the API (`{"error": {"code", "message"}}`) or a
readable page for the browser. Nothing else in the code base decides a status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TuneError(Exception):
    """Base of every error Tune reports to a client."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.details)
        return {"error": body}


class BadRequest(TuneError):
    status = 400
    code = "bad_request"


class Unauthorized(TuneError):
    status = 401
    code = "unauthorized"


class Forbidden(TuneError):
    status = 403
    code = "forbidden"


class NotFound(TuneError):
    status = 404
    code = "not_found"


class Conflict(TuneError):
    status = 409
    code = "conflict"


class PayloadTooLarge(TuneError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TuneError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(TuneError):
    """Input that parsed but is not acceptable; `field` names the culprit."""

    status = 422
    code = "validation_error"


class RateLimited(TuneError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServiceUnavailable(TuneError):
    """A dependency (database, SMTP relay, DNS) is not answering; the client should retry
    after `retry_after` seconds (sent as `Retry-After`)."""

    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ConfigError(Exception):
    """A bad setting; startup stops with one line naming the variable."""


def register_error_handlers(app: Any) -> None:
    """Map every failure to the API's JSON error shape or to the HTML error page."""
    import structlog
    from quart import render_template, request
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from werkzeug.exceptions import HTTPException

    from webapp.core.logs import get_logger

    log = get_logger("webapp.errors")

    def wants_json() -> bool:
        path = request.path
        if (
            path.startswith(("/api/", "/t/", "/hooks/", "/metrics", "/openapi.json"))
            or path == "/api"
        ):
            return True
        accept = request.accept_mimetypes
        return accept.best == "application/json"

    async def respond(error: TuneError) -> Any:
        headers: dict[str, str] = {}
        if isinstance(error, RateLimited | ServiceUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        if wants_json():
            return error.to_dict(), error.status, headers
        html = await render_template(
            "error.html",
            status=error.status,
            title=_TITLES.get(error.status, "Error"),
            message=error.message,
        )
        return html, error.status, headers

    @app.errorhandler(TuneError)
    async def handle_tune_error(error: TuneError) -> Any:
        return await respond(error)

    @app.errorhandler(HTTPException)
    async def handle_http_exception(error: HTTPException) -> Any:
        status = error.code or 500
        cls = _HTTP_ERRORS.get(status)
        if cls is None:
            return await respond(_generic(status, error.description or "request failed"))
        return await respond(cls(_MESSAGES.get(status, error.description or "request failed")))

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(ConnectionError)
    @app.errorhandler(TimeoutError)
    async def handle_unavailable(error: Exception) -> Any:
        """Every connection busy, the database busy, refusing or gone: one warning line
        (no traceback: nothing is wrong with the request), and a 503 to retry."""
        log.warning(
            "database_unavailable",
            error=type(error).__name__,
            sqlstate=_sqlstate(error) or None,
            detail=_first_line(getattr(error, "orig", None) or error),
        )
        return await respond(
            ServiceUnavailable(
                "the database is not available; try again shortly",
                retry_after=DATABASE_RETRY_AFTER,
            )
        )

    @app.errorhandler(Exception)
    async def handle_unexpected(error: Exception) -> Any:
        if isinstance(error, DBAPIError) and (
            error.connection_invalidated or database_unavailable(error)
        ):
            return await handle_unavailable(error)
        request_id = structlog.contextvars.get_contextvars().get("request_id", "-")
        log.exception("unhandled_error", error=type(error).__name__)
        return await respond(TuneError(f"internal error (request {request_id})"))


DATABASE_RETRY_AFTER = 2
"""Seconds a client is told to wait when the database is busy or its connections are."""
UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "57014", "55P03")
"""PostgreSQL errors that say "not now" rather than "wrong request": connection
exceptions (08), insufficient resources (53: too many connections, out of memory,
disk full), shutting down or starting up (57P), a statement or lock timeout
(57014, 55P03)."""


def _first_line(error: BaseException) -> str | None:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else None


def _sqlstate(error: BaseException) -> str:
    return str(getattr(getattr(error, "orig", None), "sqlstate", None) or "")


def database_unavailable(error: BaseException) -> bool:
    """Whether PostgreSQL refused for a reason that passes: restarting, unreachable,
    out of connections, busy. A 503 to retry, not an internal error."""
    return _sqlstate(error).startswith(UNAVAILABLE_SQLSTATES)


def _generic(status: int, message: str) -> TuneError:
    error = TuneError(message)
    error.status = status  # type: ignore[misc]
    error.code = f"http_{status}"  # type: ignore[misc]
    return error


_HTTP_ERRORS: dict[int, type[TuneError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    503: ServiceUnavailable,
}


class MethodNotAllowed(TuneError):
    status = 405
    code = "method_not_allowed"


_HTTP_ERRORS[405] = MethodNotAllowed

_MESSAGES = {
    400: "the request could not be understood",
    404: "nothing here: check the URL",
    405: "this method is not allowed here",
    413: "the request body is larger than this server accepts",
    415: "unsupported content type",
}

_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Unsupported file",
    422: "Please check your input",
    429: "Slow down",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
