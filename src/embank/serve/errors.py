"""Every error the API answers is one JSON shape: ``{"error": {type, message, status}}``.

embank's own errors carry their status (:mod:`embank.errors`); the few that only the API
raises are here; request validation, unknown routes and anything unexpected are mapped
in the same place, so no handler elsewhere builds an error body.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from embank.errors import EmbankError, UsageError
from embank.serve.models import ErrorBody, ErrorDetail

__all__ = [
    "ERROR_RESPONSES",
    "AuthRequiredError",
    "ForbiddenError",
    "PayloadTooLargeError",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: "bad_request",
    401: "auth_required_error",
    403: "forbidden_error",
    404: "not_found_error",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large_error",
    415: "unsupported_media_type",
}


class AuthRequiredError(UsageError):
    """A write route was called without a bearer token."""

    http_status = 401


class ForbiddenError(UsageError):
    """A write route was called with a wrong token, or the server accepts no writes."""

    http_status = 403


class PayloadTooLargeError(UsageError):
    """A request body over the server's limit."""

    http_status = 413


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(type=kind, message=message, status=status))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error body."""

    @app.exception_handler(EmbankError)
    async def _embank(_request: Request, exc: EmbankError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("request failed: %s", exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return error_response(exc.http_status, exc.kind, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "request_validation_error", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        kind = _HTTP_TYPES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "internal error; see the server's log")


def _described(description: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": description}


#: OpenAPI entries of the error answers, per route kind
ERROR_RESPONSES: dict[str, dict[int | str, dict[str, object]]] = {
    "read": {
        404: _described("Unknown table, version, alias, entity or key."),
        422: _described("Invalid name, reference or request."),
    },
    "vectors": {
        400: _described("A call the table cannot answer (e.g. entity needed)."),
        404: _described("Unknown table, version, alias, entity or key."),
        409: _described("space_id names another space than the answering version's."),
        413: _described("JSON body over the size limit."),
        422: _described("Invalid request, or over a cap (keys per batch, k)."),
    },
    "write": {
        400: _described("A call the bank cannot answer."),
        401: _described("No bearer token."),
        403: _described("Wrong token, or the server accepts no writes."),
        404: _described("Unknown table or version."),
        409: _described("The registry is locked by another writer: retry."),
        413: _described("Body over the size limit."),
        422: _described("Invalid data or names; nothing was written."),
    },
}
