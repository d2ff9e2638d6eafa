"""The registry's databases: SQLite (``sqlite:///path``) and PostgreSQL (``postgresql://``).

Every registry write runs in a transaction that first takes the registry's write lock, so
writers queue and a version number read inside the transaction is still free at commit:

- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock (readers go on, WAL).
- PostgreSQL: ``pg_advisory_xact_lock`` on a key derived from the registry's schema,
  released at commit or rollback, under a ``lock_timeout``; READ COMMITTED, so every
  statement after the lock sees what earlier writers committed.

A lock not had in time, a serialization failure or a deadlock is a :class:`ConflictError`
(retry); psycopg 3 is the PostgreSQL driver (``embank[postgres]``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = [
    "LOCK_TIMEOUT_S",
    "PostgresDialect",
    "SqliteDataVersion",
    "SqliteDialect",
    "normalise_url",
]

LOCK_TIMEOUT_S = 60


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3 (``postgresql+psycopg://``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class SqliteDataVersion:
    """``PRAGMA data_version`` on a connection of its own, which never writes: its value
    changes whenever any other connection (of any process) commits to the database. A
    resolve that reads only this takes ~13 µs, against ~0.15 ms for the prebuilt query and
    ~0.86 ms for the three-query resolution (measured in process)."""

    def __init__(self, database: str) -> None:
        self._conn = sqlite3.connect(database, check_same_thread=False, timeout=LOCK_TIMEOUT_S)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteDialect:
    name = "sqlite"

    def make_engine(self, url: str) -> sa.Engine:
        engine = sa.create_engine(url, connect_args={"timeout": LOCK_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for a publisher
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get("embank_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def lock(self, conn: sa.Connection) -> None:
        """Nothing more: ``BEGIN IMMEDIATE`` took the lock."""

    def change_watcher(self, url: str) -> SqliteDataVersion | None:
        database = sa.make_url(url).database
        if not database or database == ":memory:":
            return None
        return SqliteDataVersion(database)

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig)

    def exists(self, url: str) -> bool:
        database = sa.make_url(url).database
        if not database or database == ":memory:":
            return True
        return Path(database).exists()


class PostgresDialect:
    name = "postgresql"
    #: lock not available, serialization failure, deadlock, unique violation
    _CONFLICTS = frozenset({"55P03", "40001", "40P01", "23505"})

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}

    def make_engine(self, url: str) -> sa.Engine:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            from embank.errors import MissingExtraError

            raise MissingExtraError(
                'a PostgreSQL registry needs psycopg 3: pip install "embank[postgres]"'
            ) from None
        return sa.create_engine(normalise_url(url), pool_pre_ping=True, pool_size=2)

    def lock(self, conn: sa.Connection) -> None:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar() or "public"
        key = self._keys.get(schema)
        if key is None:
            digest = hashlib.sha256(f"embank registry {schema}".encode()).digest()
            key = self._keys[schema] = int.from_bytes(digest[:8], "big", signed=True)
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in self._CONFLICTS

    def change_watcher(self, url: str) -> None:
        """None: PostgreSQL has no cheap commit counter, so readers query each time."""
        return None

    def exists(self, url: str) -> bool:
        return True  # the server says, on connecting
