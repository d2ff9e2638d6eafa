"""Derived artifacts of a version in the registry's ``artifacts`` table: what the bank
does not offer yet (it belongs in ``Bank`` later, beside the ANN indexes' records).

An artifact is built after its version commits, from the version's immutable files, so
it can always be built again: losing one costs time, never data. Small artifacts (the
web UI's 2-D map, ~150 KB of JSON) are kept whole in the row's ``meta`` with ``path``
:data:`INLINE`, not as files: a file next to the version would be outside its manifest,
and a folder of its own would be a leftover to ``embank gc``. The newest row of a kind
wins, so a rebuild simply adds a row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from embank.errors import NotFoundError
from embank.names import TableRef, check_table_name
from embank.store.bank import Bank
from embank.store.registry import utcnow
from embank.store.schema import artifacts

__all__ = ["INLINE", "get_artifact", "put_artifact"]

#: the ``path`` of an artifact whose whole content is its ``meta``
INLINE = "inline:meta"


def put_artifact(
    bank: Bank, name: str, number: int, kind: str, meta: dict[str, Any], path: str = INLINE
) -> None:
    """Record artifact ``kind`` of version ``number`` of table ``name`` (one short write).

    Raises :class:`~embank.errors.NotFoundError` for an unknown table or version and
    :class:`~embank.errors.ConflictError` while another writer holds the registry.
    """
    check_table_name(name)
    registry = bank.registry
    with registry.write() as conn:
        table_row, version_row = registry.resolve(conn, TableRef(name, version=number))
        conn.execute(
            sa.insert(artifacts).values(
                table_id=table_row.id,
                version_number=version_row.number,
                kind=kind,
                path=path,
                meta=meta,
                created_at=utcnow(),
            )
        )


def get_artifact(bank: Bank, name: str, number: int, kind: str) -> dict[str, Any] | None:
    """The ``meta`` of the newest artifact ``kind`` of version ``number``, or None."""
    check_table_name(name)
    registry = bank.registry
    with registry.read() as conn:
        table_row = registry.table_row(conn, name)
        if table_row is None:
            raise NotFoundError(f"no table {name!r} in this bank; `embank ls` lists the tables")
        meta = conn.execute(
            sa.select(artifacts.c.meta)
            .where(
                artifacts.c.table_id == table_row.id,
                artifacts.c.version_number == number,
                artifacts.c.kind == kind,
            )
            .order_by(artifacts.c.id.desc())
            .limit(1)
        ).scalar()
    return meta
