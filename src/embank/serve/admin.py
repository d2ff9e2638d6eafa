"""What the server needs from a bank that :class:`~embank.store.bank.Bank` does not offer
yet: a cheap reference resolution and moving an alias. Both belong in ``Bank`` later.

- :func:`resolve_version` answers which version a reference names right now with one
  registry read (~1 ms; ``bank.get`` builds full table and version records, ~3.5 ms), so
  the server can resolve every request afresh and serve a new version at once.
- :func:`move_alias` points an alias at a version in one write transaction, recording the
  move in ``alias_history`` and the audit log, as publish does for its aliases.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from embank.errors import InvalidNameError
from embank.names import LATEST, TableRef, check_alias, check_table_name, parse_ref
from embank.store.bank import Bank
from embank.store.registry import utcnow

__all__ = ["ResolvedVersion", "move_alias", "ping", "resolve_version"]


@dataclass(frozen=True)
class ResolvedVersion:
    table: str
    number: int
    version_id: str  # the version's unique folder name: what caches key on

    @property
    def ref(self) -> str:
        return f"{self.table}@{self.number}"


def resolve_version(bank: Bank, ref: str) -> ResolvedVersion:
    """The version ``ref`` (``NAME``, ``NAME@3``, ``NAME@production``) names now.

    Raises :class:`~embank.errors.NotFoundError` for an unknown table, version or alias and
    :class:`~embank.errors.InvalidNameError` for a malformed reference.
    """
    parsed = parse_ref(ref)
    with bank.registry.read() as conn:
        table_row, version_row = bank.registry.resolve(conn, parsed)
    return ResolvedVersion(
        table_row.name, int(version_row.number), version_row.storage_path.rsplit("/", 1)[-1]
    )


def ping(bank: Bank) -> None:
    """Raise unless the bank's registry answers a read."""
    with bank.registry.read() as conn:
        conn.exec_driver_sql("SELECT 1")


def move_alias(
    bank: Bank, name: str, alias: str, number: int, actor: str | None = None
) -> int | None:
    """Point ``alias`` of table ``name`` at version ``number``; returns the version it
    pointed to before (None for a new alias).

    ``latest`` is moved only by publish (:class:`InvalidNameError`); an unknown table or
    version raises :class:`~embank.errors.NotFoundError` and changes nothing.
    """
    check_table_name(name)
    if check_alias(alias) == LATEST:
        raise InvalidNameError("'latest' is moved only by a publish; choose another alias")
    actor = actor or _whoami()
    registry = bank.registry
    now = utcnow()
    with registry.write() as conn:
        table_row, version_row = registry.resolve(conn, TableRef(name, version=number))
        previous = registry.move_alias(conn, table_row.id, alias, version_row.number, actor, now)
        registry.audit(
            conn,
            "move_alias",
            actor,
            now,
            name,
            version_row.number,
            alias=alias,
            previous=previous,
        )
    return previous


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"
