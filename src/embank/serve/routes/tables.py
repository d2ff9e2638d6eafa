"""Discovery: ``GET /tables`` (list and search), a table's detail, one version's ``show``,
its keys by prefix (the web UI's suggestions) and its 2-D map.

The bodies of the first three are the store's models, the same that
``embank ls | search | show --json`` print.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from embank.serve.discovery import keys_with_prefix, matching_tables
from embank.serve.drift import drift_by_version
from embank.serve.errors import ERROR_RESPONSES
from embank.serve.models import KeysResult, MapResult, TableDetail
from embank.serve.routes._common import served_headers, table_name
from embank.serve.service import Service, get_service
from embank.store.models import ShowResult, TableInfo

router = APIRouter(tags=["tables"])


@router.get("/tables", response_model=list[TableInfo], responses=ERROR_RESPONSES["read"])
def list_tables(
    q: str | None = Query(
        None, description="Words in a name, description, owner or tag (any case)."
    ),
    entity: str | None = Query(None, description="Only tables with this entity type."),
    owner: str | None = Query(None, description="Only tables of this owner."),
    tag: str | None = Query(None, description="Only tables with this tag."),
    service: Service = Depends(get_service),
) -> list[TableInfo]:
    """Every table, or those ``q`` finds (the body of ``embank ls`` / ``search --json``)."""
    return matching_tables(service.bank, q, entity=entity, owner=owner, tag=tag)


@router.get("/tables/{ns}/{name}", response_model=TableDetail, responses=ERROR_RESPONSES["read"])
def table_detail(ns: str, name: str, service: Service = Depends(get_service)) -> TableDetail:
    """A table: every version with its aliases and lineage, the latest figures, and each
    refreshed version's drift from the one before."""
    full = table_name(ns, name)
    versions = service.bank.versions(full)
    latest = service.bank.show(full)
    return TableDetail(
        table=latest.table,
        versions=versions,
        benchmarks=latest.benchmarks,
        drift=drift_by_version(service.bank, full, versions),
    )


@router.get(
    "/tables/{ns}/{name}/versions/{ref}",
    response_model=ShowResult,
    responses=ERROR_RESPONSES["read"],
)
def show_version(
    ns: str, name: str, ref: str, service: Service = Depends(get_service)
) -> ShowResult:
    """One version, by number or alias: the body of ``embank show NAME@REF --json``."""
    return service.bank.show(f"{table_name(ns, name)}@{ref}")


@router.get(
    "/tables/{ns}/{name}/keys", response_model=KeysResult, responses=ERROR_RESPONSES["vectors"]
)
def keys(
    ns: str,
    name: str,
    response: Response,
    prefix: str = Query("", description="The keys' first characters (case-sensitive)."),
    entity: str | None = Query(None, description="Entity type of the keys; all when omitted."),
    limit: int = Query(20, ge=1, le=100, description="Most keys answered."),
    version: str | None = Query(None, description="Version number or alias; latest if omitted."),
    service: Service = Depends(get_service),
) -> KeysResult:
    """Keys of a version that start with ``prefix``, in stored order (bytewise): a binary
    search of the sorted keys, as fast on a table of a million rows as of a hundred."""
    embedding = service.embedding(table_name(ns, name), version)
    found = keys_with_prefix(embedding, prefix, entity=entity, limit=limit)
    response.headers.update(served_headers(embedding))
    return KeysResult(
        table=embedding.name,
        version=embedding.version,
        space_id=embedding.space_id,
        prefix=prefix,
        keys=found,
    )


@router.get(
    "/tables/{ns}/{name}/versions/{ref}/map",
    response_model=MapResult,
    responses=ERROR_RESPONSES["read"],
)
def version_map(
    ns: str, name: str, ref: str, response: Response, service: Service = Depends(get_service)
) -> MapResult:
    """The version's 2-D map: a seeded sample of at most 5,000 rows laid out by UMAP (PCA
    for small tables), drawn once after publish and stored; drawn and stored here when
    missing (seconds, once per version)."""
    embedding = service.embedding(table_name(ns, name), ref)
    data = service.version_map(embedding)
    response.headers.update(served_headers(embedding))
    return MapResult(
        table=embedding.name, version=embedding.version, space_id=embedding.space_id, **data
    )
