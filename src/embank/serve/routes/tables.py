"""Discovery: ``GET /tables`` (list and search), a table's detail, one version's ``show``.

The bodies are the store's models, the same that ``embank ls | search | show --json``
print.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from embank.serve.errors import ERROR_RESPONSES
from embank.serve.models import TableDetail
from embank.serve.routes._common import table_name
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
    rows = service.bank.search(q) if q else service.bank.tables()
    return [
        t
        for t in rows
        if (entity is None or entity in t.entities)
        and (owner is None or t.owner == owner)
        and (tag is None or tag in t.tags)
    ]


@router.get("/tables/{ns}/{name}", response_model=TableDetail, responses=ERROR_RESPONSES["read"])
def table_detail(ns: str, name: str, service: Service = Depends(get_service)) -> TableDetail:
    """A table: every version with its aliases and lineage, and the latest figures."""
    full = table_name(ns, name)
    versions = service.bank.versions(full)
    latest = service.bank.show(full)
    return TableDetail(table=latest.table, versions=versions, benchmarks=latest.benchmarks)


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
