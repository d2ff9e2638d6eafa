"""How fresh each table is: when its latest version was published, and how its last
refresh ended, so an operator can alert on a stale table (``/metrics``, ``embank ls``).

Five small registry queries answer it for every table at once (grouped, whatever the
number of tables or versions), cheap enough for every Prometheus scrape. The last refresh
is the newest of the audit log's ``refresh`` entries (a refresh that published nothing
records one, with its ``outcome``) and of the ``publish`` entries a refresh made (their
details hold ``refresh``; outcome ``published``). Records are read defensively: a table
never refreshed, or a record without an outcome, says ``unknown``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from embank.names import LATEST
from embank.store.models import LastRefresh, TableInfo
from embank.store.registry import Registry
from embank.store.schema import aliases, audit_log, tables, versions

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = ["UNKNOWN", "Freshness", "age_text", "freshness", "with_freshness"]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Freshness:
    table: str
    latest_version: int | None
    published_at: dt.datetime | None
    last_refresh: LastRefresh

    def age_s(self, now: dt.datetime | None = None) -> float | None:
        """Seconds since the latest version was published (None: no version)."""
        if self.published_at is None:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return max(0.0, (now - self.published_at).total_seconds())


def freshness(bank: Bank) -> dict[str, Freshness]:
    """Every table's :class:`Freshness`, by table name."""
    with bank.registry.read() as conn:
        latest = conn.execute(
            sa.select(tables.c.name, versions.c.number, versions.c.created_at)
            .select_from(tables)
            .join(aliases, (aliases.c.table_id == tables.c.id) & (aliases.c.name == LATEST))
            .join(
                versions,
                (versions.c.table_id == tables.c.id)
                & (versions.c.number == aliases.c.version_number),
            )
        ).all()
        names = conn.execute(sa.select(tables.c.name)).scalars().all()
        last = _last_refreshes(conn)
    published = {row.name: (row.number, Registry.utc(row.created_at)) for row in latest}
    unknown = LastRefresh(outcome=UNKNOWN)
    return {
        name: Freshness(
            table=name,
            latest_version=published.get(name, (None, None))[0],
            published_at=published.get(name, (None, None))[1],
            last_refresh=last.get(name, unknown),
        )
        for name in names
    }


def _last_refreshes(conn: sa.Connection) -> dict[str, LastRefresh]:
    """The newest refresh record of each table: a ``refresh`` entry, or a ``publish`` a
    refresh made (a substring test narrows the publishes in SQL; the JSON decides)."""
    refresh_ids = (
        sa.select(sa.func.max(audit_log.c.id))
        .where(audit_log.c.action == "refresh", audit_log.c.table_name.is_not(None))
        .group_by(audit_log.c.table_name)
    )
    publish_ids = (
        sa.select(sa.func.max(audit_log.c.id))
        .where(
            audit_log.c.action == "publish",
            audit_log.c.table_name.is_not(None),
            sa.cast(audit_log.c.details, sa.Text).like('%"refresh"%'),
        )
        .group_by(audit_log.c.table_name)
    )
    ids = [*conn.execute(refresh_ids).scalars(), *conn.execute(publish_ids).scalars()]
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(audit_log).where(audit_log.c.id.in_(ids)).order_by(audit_log.c.id)
    ).all()
    found: dict[str, LastRefresh] = {}
    for row in rows:  # oldest first: a newer record of a table replaces an older one
        details: Any = row.details if isinstance(row.details, dict) else {}
        if row.action == "publish":
            if not isinstance(details.get("refresh"), dict):
                continue
            outcome = "published"
        else:
            outcome = str(details.get("outcome") or UNKNOWN)
        found[row.table_name] = LastRefresh(
            outcome=outcome, at=Registry.utc(row.at), version=row.version_number
        )
    return found


def with_freshness(bank: Bank, rows: Iterable[TableInfo]) -> list[TableInfo]:
    """``rows`` with ``latest_published_at`` and ``last_refresh`` filled in."""
    rows = list(rows)
    if not rows:
        return rows
    known = freshness(bank)
    filled = []
    for info in rows:
        fresh = known.get(info.name)
        if fresh is None:  # published after the listing was read: next time
            filled.append(info)
            continue
        filled.append(
            info.model_copy(
                update={
                    "latest_published_at": fresh.published_at,
                    "last_refresh": fresh.last_refresh,
                }
            )
        )
    return filled


def age_text(seconds: float | None) -> str:
    """A short age for people: ``45s``, ``12m``, ``3h``, ``2d``; ``-`` for none."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
