"""``GET /tables/{ns}/{name}/diff``: key coverage and drift between two versions, the body
of ``embank diff A B --json`` (:class:`~embank.refresh.diff.DiffResult`).

Measured on the fly, then kept per pair of versions in each worker
(:mod:`embank.serve.diff`), since versions never change.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from embank.names import check_table_name
from embank.refresh.diff import DiffResult
from embank.serve.diff import DEFAULT_K, DEFAULT_N_QUERIES, served_diff
from embank.serve.errors import ERROR_RESPONSES
from embank.serve.routes._common import table_name
from embank.serve.service import Service, get_service

router = APIRouter(tags=["tables"])

#: caps that keep one uncached diff to seconds on a table of a million rows
MAX_K = 100
MAX_N_QUERIES = 10_000


@router.get(
    "/tables/{ns}/{name}/diff", response_model=DiffResult, responses=ERROR_RESPONSES["read"]
)
def diff(
    ns: str,
    name: str,
    a: str = Query(description="The base version: a version number or alias of this table."),
    b: str = Query(
        description="The version measured against it: a version number or alias of this "
        "table, or of the table `other` names."
    ),
    other: str | None = Query(
        None,
        description="Another table (namespace/name) of the same dimension that `b` is a "
        "version of; this table when omitted.",
    ),
    k: int = Query(DEFAULT_K, ge=1, le=MAX_K, description="Neighbours compared per key."),
    n_queries: int = Query(
        DEFAULT_N_QUERIES,
        ge=1,
        le=MAX_N_QUERIES,
        description="Shared keys whose neighbours are compared (a seeded sample).",
    ),
    service: Service = Depends(get_service),
) -> DiffResult:
    """Version `b` measured against version `a`: key coverage, neighbour overlap@k,
    aligned cosine drift, Procrustes residual and eigenspace overlap (docs/refresh.md,
    "Drift figures"), with the base table's metric. A figure that cannot be measured is
    null."""
    base = table_name(ns, name)
    compared = base if other is None else check_table_name(other)
    return served_diff(service, f"{base}@{a}", f"{compared}@{b}", k=k, n_queries=n_queries)
