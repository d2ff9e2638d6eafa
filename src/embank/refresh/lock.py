"""One refresh (or fold-in) of a table at a time: a lock row in the registry, per table.

Two refreshes of one table would both fit, both align onto the same previous version and
publish two versions that each claim to follow it; a fold-in patches the latest version,
so one running beside a refresh would patch a version the refresh is about to replace.

The lock is a row of the registry's ``bank_info`` table (key ``lock:refresh:<sha256 of
the name>``), taken and released in registry write transactions, so it works the same on
SQLite and PostgreSQL and across machines. A second refresh or fold-in gets
:class:`ConflictError` (exit code 5) naming the holder.

A process that dies without releasing leaves its row: a lock whose holder ran on this host
and is gone is taken over at once; any other lock expires after ``ttl_s`` (default 6 h,
longer than any refresh should run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from embank.errors import ConflictError
from embank.names import check_table_name
from embank.store.registry import utcnow
from embank.store.schema import bank_info

if TYPE_CHECKING:
    from embank.store.bank import Bank

__all__ = ["DEFAULT_TTL_S", "lock_holder", "lock_key", "refresh_lock"]

DEFAULT_TTL_S = 6 * 3600.0


def lock_key(name: str) -> str:
    """The ``bank_info`` key of table ``name``'s refresh lock (fits its 63 characters)."""
    return "lock:refresh:" + hashlib.sha256(name.encode()).hexdigest()[:40]


def lock_holder(bank: Bank, name: str) -> dict[str, Any] | None:
    """Who holds table ``name``'s refresh lock (table, action, host, pid, acquired_at,
    expires_at, token), or None."""
    with bank.registry.read() as conn:
        return _held(conn, lock_key(name))


@contextmanager
def refresh_lock(
    bank: Bank, name: str, *, ttl_s: float = DEFAULT_TTL_S, action: str = "refresh"
) -> Iterator[str]:
    """Hold table ``name``'s refresh lock for the ``with`` block; yields its token.
    ``action`` (``refresh``, ``fold-in``) is recorded, so a refused caller learns what runs.

    Raises :class:`ConflictError` when another live refresh or fold-in holds it.
    """
    check_table_name(name)
    key = lock_key(name)
    token = uuid.uuid4().hex
    now = utcnow()
    record = {
        "table": name,
        "action": action,
        "token": token,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(seconds=ttl_s)).isoformat(),
    }
    with bank.registry.write() as conn:
        held = _held(conn, key)
        if held is not None and _alive(held, now):
            running = held.get("action", "refresh")
            raise ConflictError(
                f"another {running} of {name} is running (pid {held.get('pid')} on "
                f"{held.get('host')}, since {held.get('acquired_at')}): wait for it to end; "
                f"if it died, its lock expires at {held.get('expires_at')}"
            )
        bank.registry.set_info(conn, {key: json.dumps(record)})
    try:
        yield token
    finally:
        with bank.registry.write() as conn:
            held = _held(conn, key)
            if held is not None and held.get("token") == token:
                conn.execute(sa.delete(bank_info).where(bank_info.c.key == key))


def _held(conn: sa.Connection, key: str) -> dict[str, Any] | None:
    value = conn.execute(sa.select(bank_info.c.value).where(bank_info.c.key == key)).scalar()
    if value is None:
        return None
    try:
        return dict(json.loads(value))
    except (ValueError, TypeError):
        return {}  # unreadable: treated as expired


def _alive(held: dict[str, Any], now: dt.datetime) -> bool:
    """Whether a recorded lock still binds: not expired, and not of a dead local process."""
    try:
        expires = dt.datetime.fromisoformat(held["expires_at"])
    except (KeyError, TypeError, ValueError):
        return False
    if expires <= now:
        return False
    if held.get("host") == socket.gethostname() and isinstance(held.get("pid"), int):
        try:
            os.kill(held["pid"], 0)
        except ProcessLookupError:
            return False  # its process is gone: nobody will release it
        except PermissionError:
            return True  # another user's live process
    return True
