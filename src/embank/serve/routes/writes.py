"""Writes, behind the bearer token: publish a version from an Arrow upload, move an alias."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from embank.names import check_alias
from embank.serve import formats
from embank.serve.auth import require_token
from embank.serve.errors import ERROR_RESPONSES
from embank.serve.limits import receive_upload
from embank.serve.models import AliasMove, AliasMoved
from embank.serve.routes._common import served_headers, table_name
from embank.serve.service import Service, get_service
from embank.store.models import ShowResult

router = APIRouter(tags=["writes"], dependencies=[Depends(require_token)])

ACTOR = "http"


@router.post(
    "/tables/{ns}/{name}/versions",
    status_code=201,
    response_model=ShowResult,
    responses=ERROR_RESPONSES["write"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An Arrow IPC stream with columns entity (text), key (text or "
            "integers) and vector (FixedSizeList<float32>); at most max_upload_bytes.",
            "content": {formats.ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def publish(
    ns: str,
    name: str,
    request: Request,
    metric: Literal["cosine", "dot"] = Query(
        "cosine", description="Fixed by a table's first version."
    ),
    description: str | None = Query(None, description="What the table is."),
    owner: str | None = Query(None, description="Team or person who answers for it."),
    tags: list[str] | None = Query(None, description="Words to find it by (repeat the param)."),
    aliases: list[str] | None = Query(
        None, description="Aliases to move to the new version, besides latest (repeatable)."
    ),
    entity: str | None = Query(None, description="Entity type of every row, if no column."),
    duplicates: Literal["error", "first", "last"] = Query(
        "error", description="Repeated keys: refuse (422), or keep each key's first/last row."
    ),
    service: Service = Depends(get_service),
) -> JSONResponse:
    """Publish the uploaded rows as the next version; answers its ``show`` (201).

    The upload streams to a temporary file under ``max_upload_bytes`` (413 beyond); data
    the bank refuses (wrong dimension, NaN, duplicate keys, …) is a 422 with the bank's
    message, and nothing is published.
    """
    full = table_name(ns, name)
    for alias in aliases or ():
        check_alias(alias)
    settings = service.settings
    path = await receive_upload(request, settings.max_upload_bytes, settings.upload_dir)
    try:
        rows = await run_in_threadpool(formats.read_upload, path, entity)
        embedding = await run_in_threadpool(
            service.bank.publish,
            full,
            rows,
            metric=metric,
            description=description,
            owner=owner,
            tags=tags,
            aliases=aliases or (),
            actor=ACTOR,
            duplicates=duplicates,
        )
    finally:
        path.unlink(missing_ok=True)
    shown = await run_in_threadpool(service.bank.show, f"{full}@{embedding.version}")
    return JSONResponse(
        shown.model_dump(mode="json"), status_code=201, headers=served_headers(embedding)
    )


@router.put(
    "/tables/{ns}/{name}/aliases/{alias}",
    response_model=AliasMoved,
    responses=ERROR_RESPONSES["write"],
)
def put_alias(
    ns: str, name: str, alias: str, body: AliasMove, service: Service = Depends(get_service)
) -> AliasMoved:
    """Point ``alias`` at a version (``latest`` moves only by publish); recorded in the
    alias history and the audit log."""
    full = table_name(ns, name)
    moved = service.bank.set_alias(f"{full}@{body.version}", alias, actor=ACTOR)
    return AliasMoved(table=full, alias=alias, version=moved.version, previous=moved.previous)
