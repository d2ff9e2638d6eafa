"""The web UI's routes: HTML pages and their two static assets (not in the OpenAPI schema).

Pages are read-only and need no token. The neighbour explorer and the map call the JSON
API itself (``POST …/neighbors``, ``GET …/keys``, ``GET …/versions/{ref}/map``), so the
browser sees exactly what every other client sees.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from embank._version import __version__
from embank.errors import EmbankError
from embank.serve.models import NeighborsRequest
from embank.serve.routes import vectors
from embank.serve.routes._common import table_name
from embank.serve.service import Service, get_service
from embank.serve.ui import views
from embank.serve.ui.assets import ASSETS, asset_version
from embank.serve.ui.templates import TEMPLATES

__all__ = ["router", "warm_up"]

router = APIRouter(include_in_schema=False)

#: scripts only from this server; inline styles for the charts' SVG and the swatches
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_HEADINGS = {404: "Not found", 422: "Not a valid name", 400: "Cannot show that"}


def warm_up() -> None:
    """Import what the first page view would otherwise wait for (matplotlib's SVG
    backend, ~0.5 s) and compile the templates."""
    from matplotlib.backends import backend_svg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    for name in TEMPLATES:
        environment().get_template(name)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.DictLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = views.age
    env.globals["asset"] = lambda name: f"/ui/static/{name}?v={asset_version(name)}"
    env.globals["embank_version"] = __version__
    return env


def _render(
    service: Service, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    page = (
        environment()
        .get_template(template)
        .render(bank_label=service.settings.bank or service.bank.location.label, **context)
    )
    return HTMLResponse(page, status_code=status, headers=_HEADERS)


def _error(service: Service, exc: EmbankError) -> HTMLResponse:
    status = exc.http_status if 400 <= exc.http_status < 600 else 500
    context = {"nav": None, "status": status, "heading": _HEADINGS.get(status, "Error")}
    return _render(service, "error.html", {**context, "message": str(exc)}, status)


@router.get("/", response_class=HTMLResponse)
def catalog(
    q: str = Query("", max_length=200),
    entity: str | None = Query(None, max_length=64),
    owner: str | None = Query(None, max_length=255),
    tag: str | None = Query(None, max_length=255),
    service: Service = Depends(get_service),
) -> HTMLResponse:
    """Every table as a card; search and filters."""
    try:
        context = views.catalog_page(service, q, entity or None, owner or None, tag or None)
    except EmbankError as exc:
        return _error(service, exc)
    return _render(service, "catalog.html", context)


@router.get("/t/{ns}/{name}", response_class=HTMLResponse)
def table(
    ns: str,
    name: str,
    request: Request,
    v: str | None = Query(None, max_length=64, description="Version number or alias."),
    service: Service = Depends(get_service),
) -> HTMLResponse:
    """A table: overview, map, benchmarks, versions, lineage, usage."""
    try:
        full = table_name(ns, name)
        context = views.table_page(service, full, v or None, str(request.base_url))
    except EmbankError as exc:
        return _error(service, exc)
    return _render(service, "table.html", context)


@router.get("/t/{ns}/{name}/explore", response_class=HTMLResponse)
def explore(
    ns: str,
    name: str,
    key: str | None = Query(None, max_length=512),
    entity: str | None = Query(None, max_length=64),
    target: str | None = Query(None, max_length=64),
    k: int = Query(10, ge=1, le=100),
    v: str | None = Query(None, max_length=64),
    service: Service = Depends(get_service),
) -> HTMLResponse:
    """The neighbour explorer. With ``key`` the answer is rendered here too (through the
    API's own neighbours route), so the page works without JavaScript."""
    try:
        full = table_name(ns, name)
    except EmbankError as exc:
        return _error(service, exc)
    result, error = None, None
    if key:
        body = NeighborsRequest(
            key=key, k=k, entity=entity or None, target=target or None, version=v or None
        )
        try:
            result = vectors.neighbors_answer(ns, name, body, Response(), service)
        except EmbankError as exc:
            error = str(exc)
    try:
        context = views.explore_page(
            service, full, key, entity or None, target or None, k, v or None, result, error
        )
    except EmbankError as exc:
        return _error(service, exc)
    return _render(service, "explore.html", context)


@router.get("/compare", response_class=HTMLResponse)
def compare(
    a: str | None = Query(None, max_length=200),
    b: str | None = Query(None, max_length=200),
    table: str | None = Query(None, max_length=200),
    service: Service = Depends(get_service),
) -> HTMLResponse:
    """Two versions (or tables) side by side: benchmark deltas and neighbours kept."""
    try:
        if not a and not b:
            pair = views.default_pair(service, table)
            a, b = pair if pair else (None, None)
        context = views.compare_page(service, a, b)
    except EmbankError as exc:
        try:
            context = views.compare_page(service, None, None)
        except EmbankError:
            return _error(service, exc)
        context["error"] = str(exc)
        return _render(service, "compare.html", context, exc.http_status)
    return _render(service, "compare.html", context)


@router.get("/ui/static/{asset}")
def static(asset: str, request: Request) -> Response:
    """The stylesheet and the script; cached for a day (their URLs carry a content tag)."""
    found = ASSETS.get(asset)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    media, content, tag = found
    etag = f'"{tag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=86400",
        "Last-Modified": _STARTED,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media, headers=headers)


_STARTED = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
