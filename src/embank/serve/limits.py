"""Limits on what a request may ask: body size (413), keys per batch and k (422).

JSON bodies are capped by :class:`BodySizeLimit` before any route reads them; a publish
upload is exempt there and streamed to a temporary file by :func:`receive_upload` under
its own, larger limit.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embank.errors import ValidationError
from embank.serve.errors import PayloadTooLargeError, error_response

__all__ = ["BodySizeLimit", "check_cap", "is_upload", "receive_upload"]

_UPLOAD_PATH = re.compile(r"^/tables/[^/]+/[^/]+/versions/?$")
_WRITE_CHUNK = 1 << 20  # bytes buffered before each write to the temporary file


def is_upload(scope: Scope) -> bool:
    """Whether the request is a publish upload (streamed under ``max_upload_bytes``)."""
    return scope.get("method") == "POST" and bool(_UPLOAD_PATH.match(scope.get("path", "")))


def check_cap(n: int, cap: int, what: str) -> None:
    """Raise a 422 :class:`ValidationError` when ``n`` is over ``cap``."""
    if n > cap:
        raise ValidationError(f"{what} is {n}, over this server's limit of {cap}")


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body over this server's limit of {limit} bytes")


class BodySizeLimit:
    """Answers 413 to a request body over ``limit_bytes``: at once when Content-Length says
    so, else once the streamed body passes the limit (the body is buffered, which the
    limit keeps small). ``exempt(scope)`` requests pass through untouched."""

    def __init__(self, app: ASGIApp, limit_bytes: int, exempt: Callable[[Scope], bool]) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.limit_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = _too_large(self.limit_bytes)
        response = error_response(exc.http_status, exc.kind, str(exc), {"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def receive_upload(request: Request, limit_bytes: int, folder: str | None) -> Path:
    """Stream the request body to a new temporary file and return its path; raises
    :class:`PayloadTooLargeError` (and removes the file) past ``limit_bytes``. The caller
    removes the file when done."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(limit_bytes)
    handle, name = tempfile.mkstemp(prefix="embank-upload-", suffix=".arrows", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            size = 0
            pending = bytearray()
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit_bytes:
                    raise _too_large(limit_bytes)
                pending += chunk
                if len(pending) >= _WRITE_CHUNK:
                    await anyio.to_thread.run_sync(out.write, bytes(pending))
                    pending.clear()
            if pending:
                await anyio.to_thread.run_sync(out.write, bytes(pending))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
