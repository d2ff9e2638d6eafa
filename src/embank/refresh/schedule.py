"""When a table is due for a refresh: its spec's ``refresh.schedule`` cron string.

embank runs no daemon: a system cron job, a Kubernetes CronJob or an Airflow task calls
``embank refresh --due`` as often as it likes, and each table is refreshed once per due
time of its own schedule. A table is due when the schedule's last due time (the newest
cron time at or before now, in UTC) is after its last refresh: its latest version's
``created_at``, or the newest ``refresh`` entry of the audit log (a refresh that found
nothing new, or failed, also counts, so a failing refresh is not retried at every call).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from croniter import croniter

from embank.errors import SpecError
from embank.names import LATEST

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = ["DueTable", "due_tables", "is_due", "last_due_time"]


@dataclass(frozen=True)
class DueTable:
    name: str
    schedule: str
    due_at: dt.datetime  # the due time not yet served
    last_run: dt.datetime | None


def last_due_time(schedule: str, now: dt.datetime) -> dt.datetime:
    """The newest time ``schedule`` fires at or before ``now`` (UTC).

    Raises :class:`SpecError` for a string that is not five cron fields."""
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise SpecError(f"schedule {schedule!r} is not a cron string of five fields")
    now = _utc(now)
    # get_prev is strictly before its start: start a second later so `now` itself counts
    return croniter(schedule, now + dt.timedelta(seconds=1)).get_prev(dt.datetime)


def is_due(schedule: str, last_run: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a table refreshed last at ``last_run`` (None: never) is due at ``now``."""
    due_at = last_due_time(schedule, now)  # checks the schedule, even for a first run
    return last_run is None or due_at > _utc(last_run)


def due_tables(bank: Bank, now: dt.datetime | None = None) -> list[DueTable]:
    """Every table whose latest version's spec has a ``refresh.schedule`` that is due."""
    now = _utc(now or dt.datetime.now(dt.UTC))
    due = []
    for table in bank.tables():
        if table.latest_version is None:
            continue
        version = bank.show(f"{table.name}@{LATEST}").version
        schedule = ((version.spec or {}).get("refresh") or {}).get("schedule")
        if not schedule:
            continue
        last_run = max([_utc(version.created_at), *_refresh_times(bank, table.name)])
        if is_due(schedule, last_run, now):
            due.append(DueTable(table.name, schedule, last_due_time(schedule, now), last_run))
    return due


def _refresh_times(bank: Bank, name: str) -> list[dt.datetime]:
    entries = bank.audit_log(name)
    return [_utc(e["at"]) for e in entries if e["action"] == "refresh" and e["at"] is not None]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
