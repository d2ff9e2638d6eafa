"""Derived artifacts of a version, in the registry's ``artifacts`` table: ANN indexes,
2-D maps, drift figures (DESIGN.md: built after the commit, so publish timing never pays).

An artifact is built from the version's immutable files, so it can always be built again:
losing one costs time, never data. Small artifacts (the web UI's 2-D map, an index
report for a table searched exactly) are kept whole in the row's ``meta`` with ``path``
:data:`INLINE`. Artifacts with files (an ANN index) live in the offline store under
``indexes/<namespace>/<name>/<uuid>/`` (:data:`ARTIFACT_PATH`), outside the version's
folder and its manifest (a version never changes after publish), with a manifest of their
own; ``gc`` keeps every folder an artifact row references, and ``check`` verifies them.

The newest row of a kind wins, so a rebuild adds a row; ``replace=True`` drops the older
rows of that kind of that version in the same write, and ``gc`` then removes the folders
nobody references any more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from embank.errors import NotFoundError, StorageError
from embank.names import TableRef, check_table_name
from embank.store.registry import utcnow
from embank.store.schema import artifacts

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = [
    "ARTIFACT_PATH",
    "INDEXES",
    "INLINE",
    "Artifact",
    "artifact_paths",
    "get_artifact",
    "get_artifact_row",
    "put_artifact",
]

#: the ``path`` of an artifact whose whole content is its ``meta``
INLINE = "inline:meta"
#: the offline store's root folder for artifact files, beside ``data/``
INDEXES = "indexes"
ARTIFACT_PATH = re.compile(
    rf"^{INDEXES}/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*/[A-Za-z0-9_-]{{1,64}}$"
)


@dataclass(frozen=True)
class Artifact:
    """One artifact row: what it is, where its files are (or :data:`INLINE`), its meta."""

    name: str
    version: int
    kind: str
    path: str
    meta: dict[str, Any]

    @property
    def has_files(self) -> bool:
        return self.path != INLINE


def put_artifact(
    bank: Bank,
    name: str,
    number: int,
    kind: str,
    meta: dict[str, Any],
    path: str = INLINE,
    *,
    replace: bool = False,
) -> None:
    """Record artifact ``kind`` of version ``number`` of table ``name`` (one short write).

    ``path`` is :data:`INLINE` or a folder the offline store already holds under
    ``indexes/``; ``replace`` drops the older rows of this kind of this version. Raises
    :class:`NotFoundError` for an unknown table or version, :class:`StorageError` for a
    path outside ``indexes/``, and :class:`~embank.errors.ConflictError` while another
    writer holds the registry.
    """
    check_table_name(name)
    if path != INLINE and not ARTIFACT_PATH.match(path):
        raise StorageError(f"artifact path {path!r} is not under {INDEXES}/<ns>/<name>/<id>")
    registry = bank.registry
    with registry.write() as conn:
        table_row, version_row = registry.resolve(conn, TableRef(name, version=number))
        where = (
            (artifacts.c.table_id == table_row.id)
            & (artifacts.c.version_number == version_row.number)
            & (artifacts.c.kind == kind)
        )
        if replace:
            conn.execute(sa.delete(artifacts).where(where))
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


def get_artifact_row(bank: Bank, name: str, number: int, kind: str) -> Artifact | None:
    """The newest artifact ``kind`` of version ``number`` of table ``name``, or None.

    Raises :class:`NotFoundError` for an unknown table."""
    check_table_name(name)
    registry = bank.registry
    with registry.read() as conn:
        table_row = registry.table_row(conn, name)
        if table_row is None:
            raise NotFoundError(f"no table {name!r} in this bank; `embank ls` lists the tables")
        row = conn.execute(
            sa.select(artifacts.c.path, artifacts.c.meta)
            .where(
                artifacts.c.table_id == table_row.id,
                artifacts.c.version_number == number,
                artifacts.c.kind == kind,
            )
            .order_by(artifacts.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return Artifact(name, number, kind, row.path, dict(row.meta or {}))


def get_artifact(bank: Bank, name: str, number: int, kind: str) -> dict[str, Any] | None:
    """The ``meta`` of the newest artifact ``kind`` of version ``number``, or None."""
    found = get_artifact_row(bank, name, number, kind)
    return None if found is None else found.meta


def artifact_paths(conn: sa.Connection) -> set[str]:
    """Every offline folder an artifact row references (what ``gc`` must keep)."""
    paths = conn.execute(sa.select(artifacts.c.path).where(artifacts.c.path != INLINE))
    return set(paths.scalars())


def artifact_rows(conn: sa.Connection) -> list[sa.Row]:
    """Every artifact row with files: (table_id, version_number, kind, path, meta)."""
    return list(
        conn.execute(
            sa.select(
                artifacts.c.table_id,
                artifacts.c.version_number,
                artifacts.c.kind,
                artifacts.c.path,
                artifacts.c.meta,
            ).where(artifacts.c.path != INLINE)
        )
    )
