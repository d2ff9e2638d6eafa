"""The app factory: routers, error handlers, limits and metrics around one bank.

``create_app(settings, bank=...)`` for tests and embedding; ``app_from_env`` is what each
``uvicorn --workers N`` process calls (``embank serve`` passes the settings in
``EMBANK_SERVE_SETTINGS``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from embank._version import __version__
from embank.serve.errors import install_error_handlers
from embank.serve.limits import BodySizeLimit, is_upload
from embank.serve.routes import diff, meta, tables, vectors, writes
from embank.serve.service import Service
from embank.serve.settings import ServeSettings
from embank.serve.ui import router as ui_router
from embank.serve.ui import warm_up
from embank.store.bank import Bank

__all__ = ["app_from_env", "create_app"]

DESCRIPTION = """\
Lookups and nearest neighbours over a bank's published embeddings, discovery of its
tables, and (behind a bearer token) publishes and alias moves. Every error is
`{"error": {"type", "message", "status"}}`; every answer that serves vectors names its
version in `X-Embank-Version` and `X-Embank-Space`. The web UI, outside this schema, is at
`/`. See docs/http.md and docs/ui.md.
"""


def create_app(settings: ServeSettings | None = None, *, bank: Bank | None = None) -> FastAPI:
    """An API over ``bank`` (else the bank ``settings.bank`` names, opened on first use)."""
    settings = settings or ServeSettings()
    service = Service(settings, bank)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # matplotlib takes ~0.5 s to import: not in the first table page's time
        threading.Thread(target=warm_up, name="embank-ui-warm-up", daemon=True).start()
        yield
        service.close()

    app = FastAPI(title="embank", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    install_error_handlers(app)
    # The hot routes first: a request is matched against the routes in order.
    for area in (vectors, meta, tables, diff, writes):
        app.include_router(area.router)
    app.include_router(ui_router)
    app.add_middleware(BodySizeLimit, limit_bytes=settings.max_body_bytes, exempt=is_upload)
    # Its own registry per app, so that several apps (tests) can live in one process;
    # /metrics is served by the meta router.
    app.state.metrics = CollectorRegistry()
    # Request counts and one latency histogram: the default set adds request and response
    # size summaries and a second, finer histogram, ~0.1-0.3 ms a request on the hot path.
    registry = app.state.metrics
    (
        Instrumentator(registry=registry, excluded_handlers=["/metrics"])
        .add(metrics.requests(registry=registry))
        .add(metrics.latency(registry=registry))
        .instrument(app)
    )
    return app


def app_from_env() -> FastAPI:
    """The app of one worker process, from ``EMBANK_SERVE_SETTINGS``."""
    return create_app(ServeSettings.from_env())
