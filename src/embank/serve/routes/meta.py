"""``GET /healthz`` (whether the bank's registry answers) and ``GET /metrics`` (Prometheus).

With several workers, each answers its own counters unless ``PROMETHEUS_MULTIPROC_DIR``
names a folder they share (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from embank._version import __version__
from embank.errors import EmbankError
from embank.serve.errors import error_response
from embank.serve.models import ErrorBody, Health
from embank.serve.service import Service, get_service
from embank.serve.staleness import staleness_registry

router = APIRouter(tags=["meta"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "The bank does not answer."}},
)
async def healthz(service: Service = Depends(get_service)) -> Health | JSONResponse:
    """200 when the bank's registry answers a read, 503 otherwise."""
    try:
        await run_in_threadpool(service.bank.ping)
    except EmbankError as exc:
        return error_response(503, "unavailable", f"the bank does not answer: {exc}")
    return Health(status="ok", embank_version=__version__, writable=service.token is not None)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition: request counts, sizes and latencies; "
            "embank_table_age_seconds and embank_table_last_refresh per table.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request, service: Service = Depends(get_service)) -> Response:
    """Counters and histograms of the requests this server answered, and each table's
    staleness (age, last refresh outcome), read from the bank at each scrape."""
    registry = request.app.state.metrics
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    body = generate_latest(registry) + generate_latest(staleness_registry(service))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
