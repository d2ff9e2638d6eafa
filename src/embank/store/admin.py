"""Table administration: a table's description, owner, tags and entity types; its aliases;
its versions' status.

Each change is one registry write transaction (under the registry's write lock) with its
row in the audit log; none rewrites a version's files. After a publish only these change:
a table's metadata, where aliases point, and a version's status.

Deprecation is a signal to readers, not a rollback. A deprecated version still reads
(:meth:`Bank.get` logs a warning, ``show`` says so and why), and aliases pointing at it
stay until they are moved; an alias cannot be *moved onto* a deprecated version.
``latest`` is moved only by publish and always names the newest version, so it never
points at a deprecated version while a newer active one exists: to steer readers off a
bad newest version, publish a fixed one, or move the alias they read (``production``)
back to a good one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow.compute as pc
import sqlalchemy as sa

from embank.errors import InvalidNameError, NotFoundError, UsageError, ValidationError
from embank.names import LATEST, check_alias, check_entity, check_table_name, parse_ref
from embank.store.models import AliasResult, EditResult, StatusResult
from embank.store.registry import utcnow

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = [
    "ACTIVE",
    "DEPRECATED",
    "check_movable_alias",
    "delete_alias",
    "edit_table",
    "set_alias",
    "set_status",
]

ACTIVE = "active"
DEPRECATED = "deprecated"
MAX_TAG_CHARS = 64
MAX_REASON_CHARS = 1000


def edit_table(
    bank: Bank,
    name: str,
    *,
    description: str | None = None,
    owner: str | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    entities: Sequence[str] | None = None,
    actor: str,
) -> EditResult:
    """Change a table's description, owner, tags or declared entity types.

    ``entities`` replaces the declared list; it must still cover every entity type a
    version holds (:class:`ValidationError` names the versions otherwise). Nothing is
    written when nothing changes.
    """
    check_table_name(name)
    if (description, owner, entities) == (None, None, None) and not (add_tags or remove_tags):
        raise UsageError(
            "nothing to edit: pass --description, --owner, --add-tag, --remove-tag or --entities"
        )
    added = {_check_tag(t) for t in add_tags}
    removed = {_check_tag(t) for t in remove_tags}
    if added & removed:
        raise UsageError(f"tag(s) {sorted(added & removed)} both added and removed")
    declared = None
    if entities is not None:
        declared = sorted({check_entity(e) for e in entities})
        if not declared:
            raise ValidationError("a table declares at least one entity type")
    registry = bank.registry
    now = utcnow()
    with registry.write() as conn:
        row = registry.require_table(conn, name)
        wanted = {
            "description": description,
            "owner": owner,
            "tags": sorted((set(row.tags) | added) - removed) if added or removed else None,
            "entities": declared,
        }
        changes = {
            field: {"before": getattr(row, field), "after": value}
            for field, value in wanted.items()
            if value is not None and value != getattr(row, field)
        }
        if "entities" in changes:
            _check_entities_cover(bank, conn, row, set(changes["entities"]["after"]))
        if changes:
            after = {field: change["after"] for field, change in changes.items()}
            registry.update_table(conn, row.id, **after, updated_at=now)
            registry.audit(conn, "edit", actor, now, name, None, changes=changes)
        table = bank._table_info(conn, registry.require_table(conn, name))
    return EditResult(table=table, changes=changes)


def set_alias(bank: Bank, ref: str, alias: str, *, actor: str) -> AliasResult:
    """Point ``alias`` at the version ``ref`` names (set it, or move it); the move goes into
    ``alias_history`` and the audit log. ``latest`` is refused (publish moves it), as is a
    deprecated version."""
    parsed = parse_ref(ref)
    check_movable_alias(alias)
    registry = bank.registry
    now = utcnow()
    with registry.write() as conn:
        table_row, version_row = registry.resolve(conn, parsed)
        number = version_row.number
        if version_row.status == DEPRECATED:
            raise ValidationError(
                f"{table_row.name}@{number} is deprecated: point {alias!r} at an active "
                f"version, or `embank undeprecate {table_row.name}@{number}` first"
            )
        current = registry.aliases_of(conn, table_row.id).get(alias)
        if current == number:
            return AliasResult(
                table=table_row.name, alias=alias, version=number, previous=number, changed=False
            )
        previous = registry.move_alias(conn, table_row.id, alias, number, actor, now)
        registry.audit(
            conn, "move_alias", actor, now, table_row.name, number, alias=alias, previous=previous
        )
    return AliasResult(
        table=table_row.name, alias=alias, version=number, previous=previous, changed=True
    )


def delete_alias(bank: Bank, name: str, alias: str, *, actor: str) -> AliasResult:
    """Remove ``alias`` from table ``name``; its history keeps where it pointed.
    Raises :class:`NotFoundError` when the table has no such alias."""
    check_table_name(name)
    check_movable_alias(alias)
    registry = bank.registry
    now = utcnow()
    with registry.write() as conn:
        table_row = registry.require_table(conn, name)
        previous = registry.delete_alias(conn, table_row.id, alias, actor, now)
        if previous is None:
            raise NotFoundError(f"table {name!r} has no alias {alias!r}")
        registry.audit(conn, "delete_alias", actor, now, name, previous, alias=alias)
    return AliasResult(table=name, alias=alias, version=None, previous=previous, changed=True)


def set_status(
    bank: Bank, ref: str, status: str, *, reason: str | None = None, actor: str
) -> StatusResult:
    """Set the status (``active`` or ``deprecated``) of the version ``ref`` names. Its
    files, aliases and ``latest`` stay as they are; nothing is written when it has that
    status already."""
    if status not in (ACTIVE, DEPRECATED):
        raise UsageError(f"unknown status {status!r}: use {ACTIVE!r} or {DEPRECATED!r}")
    if reason is not None:
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON_CHARS:
            raise ValidationError(f"a reason is 1-{MAX_REASON_CHARS} characters")
    parsed = parse_ref(ref)
    registry = bank.registry
    now = utcnow()
    with registry.write() as conn:
        table_row, version_row = registry.resolve(conn, parsed)
        number = version_row.number
        pointing = sorted(
            a for a, n in registry.aliases_of(conn, table_row.id).items() if n == number
        )
        before = version_row.status
        if before != status:
            registry.set_status(conn, table_row.id, number, status)
            action = "deprecate" if status == DEPRECATED else "undeprecate"
            details = {"reason": reason, "previous_status": before, "aliases": pointing}
            registry.audit(conn, action, actor, now, table_row.name, number, **details)
        elif status == DEPRECATED:
            reason = status_reason(registry, conn, table_row.name, number)
    return StatusResult(
        table=table_row.name,
        version=number,
        status=status,
        previous_status=before,
        reason=reason if status == DEPRECATED else None,
        aliases=pointing,
        changed=before != status,
    )


def status_reason(registry: object, conn: sa.Connection, table: str, number: int) -> str | None:
    """The reason given when version ``number`` was last deprecated (from the audit log)."""
    row = registry.last_audit(conn, table, number, ("deprecate",))  # type: ignore[attr-defined]
    return (row.details or {}).get("reason") if row is not None else None


def held_entities(
    bank: Bank, conn: sa.Connection, table_row: sa.Row, version_row: sa.Row
) -> set[str]:
    """The entity types a version holds: from its lineage (``entity_rows``, recorded at
    publish), else from its key file."""
    counts = (version_row.lineage or {}).get("entity_rows")
    if isinstance(counts, dict):
        return set(counts)
    embedding = bank._embedding(
        bank._table_info(conn, table_row),
        bank._version_info(conn, table_row, version_row),
        version_row.storage_path,
    )
    return set(pc.unique(embedding.local.key_columns.column("entity")).to_pylist())


def _check_entities_cover(bank: Bank, conn: sa.Connection, row: sa.Row, declared: set[str]) -> None:
    short: dict[str, list[int]] = {}
    for version in bank.registry.versions_of(conn, row.id):
        for entity in sorted(held_entities(bank, conn, row, version) - declared):
            short.setdefault(entity, []).append(version.number)
    if short:
        held = "; ".join(f"{e!r} in version(s) {', '.join(map(str, n))}" for e, n in short.items())
        raise ValidationError(
            f"table {row.name!r} cannot drop entity type(s) its versions hold: {held}"
        )


def check_movable_alias(alias: str) -> str:
    """``alias`` if it is a valid alias other than ``latest`` (which publish moves)."""
    if check_alias(alias) == LATEST:
        raise InvalidNameError("'latest' is moved only by a publish; choose another alias")
    return alias


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
        raise ValidationError(f"invalid tag {tag!r}: tags are 1-{MAX_TAG_CHARS} characters")
    if tag != tag.strip() or any(c in tag for c in ",\t\n\r\x00"):
        raise ValidationError(
            f"invalid tag {tag!r}: no commas, tabs, newlines or spaces at either end"
        )
    return tag
