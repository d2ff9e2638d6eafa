"""The consumers' fast path: batch lookups (JSON, Arrow or raw float32) and neighbours.

Each answer names the version it served, in the ``X-Embank-Version`` (``NAME@N``) and
``X-Embank-Space`` headers and in its body (``version``, ``space_id``).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from embank.errors import ValidationError
from embank.serve import formats
from embank.serve.errors import ERROR_RESPONSES
from embank.serve.limits import check_cap
from embank.serve.models import LookupRequest, LookupResult, NeighborsRequest, NeighborsResult
from embank.serve.routes._common import checked_keys, served_headers, table_name
from embank.serve.service import Service, get_service
from embank.store.embedding import Embedding

router = APIRouter(tags=["vectors"])

SpaceQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The space the caller's vectors are from; 409 when the answering "
        "version is in another (also accepted in the body).",
    ),
]

_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/tables/{ns}/{name}/lookup",
    response_model=LookupResult,
    responses={
        200: {
            "description": "The vectors, as JSON; or, by the Accept header, an Arrow IPC "
            f"stream ({formats.ARROW_STREAM}) or raw float32 ({formats.OCTET_STREAM}) "
            "after a JSON preamble: see docs/http.md.",
            "content": {formats.ARROW_STREAM: _BINARY, formats.OCTET_STREAM: _BINARY},
        },
        **ERROR_RESPONSES["vectors"],
    },
)
async def lookup(
    ns: str,
    name: str,
    body: LookupRequest,
    request: Request,
    space_id: SpaceQuery = None,
) -> Response:
    """The vectors of up to ``max_batch_keys`` keys (10,000 by default), in the order asked."""
    service: Service = request.app.state.service  # not a dependency: one less to solve
    check_cap(len(body.keys), service.settings.max_batch_keys, "the number of keys")
    keys = checked_keys(body.keys)
    full = table_name(ns, name)
    accept = request.headers.get("accept")
    space = space_id if space_id is not None else body.space_id
    # A version already open in a bank of local files answers on the event loop (memory-
    # mapped rows, ~10 µs a key); anything that may wait on I/O (opening a version, a
    # remote registry or Redis) runs in a worker thread.
    embedding = service.open_embedding(full, body.version)
    if embedding is not None:
        return _lookup_answer(embedding, body, keys, space, accept)
    embedding = await run_in_threadpool(service.embedding, full, body.version)
    return await run_in_threadpool(_lookup_answer, embedding, body, keys, space, accept)


def _lookup_answer(
    embedding: Embedding,
    body: LookupRequest,
    keys: list[str],
    space_id: str | None,
    accept: str | None,
) -> Response:
    embedding.check_space(space_id)
    vectors = embedding.vectors(keys, entity=body.entity, missing="nan")
    found = ~np.isnan(vectors[:, 0])  # stored vectors are finite: NaN marks a missing key
    meta = {
        "table": embedding.name,
        "version": embedding.version,
        "space_id": embedding.space_id,
        "entity": body.entity or embedding.table_info.entities[0],
        "dim": embedding.dim,
        "keys": keys,
    }
    headers = served_headers(embedding)
    media = formats.choose_format(accept)
    if media == formats.ARROW_STREAM:
        content = formats.encode_arrow(meta, vectors, found)
    elif media == formats.OCTET_STREAM:
        content = formats.encode_raw(meta, vectors, found)
    else:
        rows = vectors.tolist()
        result = LookupResult.model_construct(
            **meta,
            found=found.tolist(),
            vectors=[row if hit else None for row, hit in zip(rows, found.tolist(), strict=True)],
        )
        content = result.model_dump_json().encode()
    return Response(content=content, media_type=media, headers=headers)


#: a version without a loaded index answers on the event loop up to this many values
#: (rows x dim): one exact query over 10,312 x 128 rows measured ~0.5 ms, 20,000 x 128
#: ~0.8 ms, on 2 busy cores; larger scans go to a worker thread, off the loop
INLINE_EXACT_VALUES = 1_500_000


@router.post(
    "/tables/{ns}/{name}/neighbors",
    response_model=NeighborsResult,
    responses=ERROR_RESPONSES["vectors"],
)
async def neighbors(
    ns: str,
    name: str,
    body: NeighborsRequest,
    response: Response,
    service: Service = Depends(get_service),
    space_id: SpaceQuery = None,
) -> NeighborsResult:
    """The ``k`` nearest rows to a key or a vector (``k`` up to ``max_k``, 1,000 by default)."""
    exclude = _checked_request(body, service)
    full = table_name(ns, name)
    # As for lookups: a version already open in a bank of local files, with its saved
    # index loaded (a graph walk, ~0.05 ms) or small enough to scan, answers on the event
    # loop; anything that may wait on I/O or take long runs in a worker thread.
    embedding = service.open_embedding(full, body.version)
    if embedding is not None and embedding.searches_quickly(INLINE_EXACT_VALUES):
        return _neighbors_answer(embedding, body, exclude, response, space_id)
    embedding = await run_in_threadpool(service.embedding, full, body.version)
    return await run_in_threadpool(_neighbors_answer, embedding, body, exclude, response, space_id)


def neighbors_answer(
    ns: str,
    name: str,
    body: NeighborsRequest,
    response: Response,
    service: Service,
    space_id: str | None = None,
) -> NeighborsResult:
    """What :func:`neighbors` answers, as a plain function (the web UI renders with it)."""
    exclude = _checked_request(body, service)
    embedding = service.embedding(table_name(ns, name), body.version)
    return _neighbors_answer(embedding, body, exclude, response, space_id)


def _checked_request(body: NeighborsRequest, service: Service) -> list[str]:
    """The request's caps and shape checked; its ``exclude`` keys."""
    settings = service.settings
    check_cap(body.k, settings.max_k, "k")
    check_cap(len(body.exclude), settings.max_batch_keys, "the number of excluded keys")
    if (body.key is None) == (body.vector is None):
        raise ValidationError("give exactly one of 'key' and 'vector'")
    return checked_keys(body.exclude)


def _neighbors_answer(
    embedding: Embedding,
    body: NeighborsRequest,
    exclude: list[str],
    response: Response,
    space_id: str | None,
) -> NeighborsResult:
    # a vector, or a key whose results the caller will mix with vectors it holds
    embedding.check_space(space_id if space_id is not None else body.space_id)
    key = None
    if body.key is not None:
        (key,) = checked_keys([body.key])
        found = embedding.neighbors(
            key,
            k=body.k,
            entity=body.entity,
            target=body.target,
            exclude=exclude,
            relation=body.relation,
        )
    else:
        with np.errstate(over="ignore"):  # too large for float32: inf, refused below
            vector = np.asarray(body.vector, dtype=np.float32)
        if not np.isfinite(vector).all():
            raise ValidationError("the query vector holds values that are not finite float32")
        if embedding.metric == "cosine" and not vector.any():
            raise ValidationError("a zero vector has no cosine similarity")
        skip = set(exclude)
        found = embedding.neighbors_by_vector(
            vector, k=body.k + len(skip), target=body.target, relation=body.relation
        )
        if skip:
            found = [
                n
                for n in found
                if n.key not in skip or (body.target is not None and n.entity != body.target)
            ]
        found = found[: body.k]
    response.headers.update(served_headers(embedding))
    return NeighborsResult(
        table=embedding.name,
        version=embedding.version,
        space_id=embedding.space_id,
        key=key,
        neighbors=found,
    )
