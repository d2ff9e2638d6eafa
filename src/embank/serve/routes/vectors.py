"""The consumers' fast path: batch lookups (JSON, Arrow or raw float32) and neighbours.

Each answer names the version it served, in the ``X-Embank-Version`` (``NAME@N``) and
``X-Embank-Space`` headers and in its body (``version``, ``space_id``).
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Request, Response

from embank.errors import ValidationError
from embank.serve import formats
from embank.serve.errors import ERROR_RESPONSES
from embank.serve.limits import check_cap
from embank.serve.models import LookupRequest, LookupResult, NeighborsRequest, NeighborsResult
from embank.serve.routes._common import checked_keys, served_headers, table_name
from embank.serve.service import Service, get_service

router = APIRouter(tags=["vectors"])

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
def lookup(
    ns: str,
    name: str,
    body: LookupRequest,
    request: Request,
    service: Service = Depends(get_service),
) -> Response:
    """The vectors of up to ``max_batch_keys`` keys (10,000 by default), in the order asked."""
    check_cap(len(body.keys), service.settings.max_batch_keys, "the number of keys")
    keys = checked_keys(body.keys)
    embedding = service.embedding(table_name(ns, name), body.version)
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
    media = formats.choose_format(request.headers.get("accept"))
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


@router.post(
    "/tables/{ns}/{name}/neighbors",
    response_model=NeighborsResult,
    responses=ERROR_RESPONSES["vectors"],
)
def neighbors(
    ns: str,
    name: str,
    body: NeighborsRequest,
    response: Response,
    service: Service = Depends(get_service),
) -> NeighborsResult:
    """The ``k`` nearest rows to a key or a vector (``k`` up to ``max_k``, 1,000 by default)."""
    settings = service.settings
    check_cap(body.k, settings.max_k, "k")
    check_cap(len(body.exclude), settings.max_batch_keys, "the number of excluded keys")
    if (body.key is None) == (body.vector is None):
        raise ValidationError("give exactly one of 'key' and 'vector'")
    exclude = checked_keys(body.exclude)
    embedding = service.embedding(table_name(ns, name), body.version)
    key = None
    if body.key is not None:
        (key,) = checked_keys([body.key])
        found = embedding.neighbors(
            key, k=body.k, entity=body.entity, target=body.target, exclude=exclude
        )
    else:
        with np.errstate(over="ignore"):  # too large for float32: inf, refused below
            vector = np.asarray(body.vector, dtype=np.float32)
        if not np.isfinite(vector).all():
            raise ValidationError("the query vector holds values that are not finite float32")
        if embedding.metric == "cosine" and not vector.any():
            raise ValidationError("a zero vector has no cosine similarity")
        skip = set(exclude)
        found = embedding.neighbors_by_vector(vector, k=body.k + len(skip), target=body.target)
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
