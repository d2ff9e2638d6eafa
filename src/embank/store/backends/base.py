"""The three small Protocols a bank's backends implement, and URL helpers.

::

    RegistryDialect   sqlite:///…  postgresql://…   how the SQL registry locks and fails
    OfflineStore      PATH  s3://bucket/prefix      the version folders (the source of truth)
    OnlineStore       embedded  redis://host:port/db   keyed lookups, a rebuildable cache

The registry row of a version is the commit point: a store holds a version's data under a
unique name (``data/<ns>/<name>/<uuid>/`` offline, ``<uuid>`` online) before the row
commits, so a crash leaves only data nothing references, which ``gc`` removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import sqlalchemy as sa

if TYPE_CHECKING:
    from embank.store.local_version import LocalVersion
    from embank.vector_table import VectorTable

__all__ = [
    "ChangeWatcher",
    "OfflineStore",
    "OnlineReader",
    "OnlineStore",
    "RegistryDialect",
    "StoredItem",
    "redact",
    "same_url",
    "scheme_of",
]


@dataclass(frozen=True)
class StoredItem:
    """Something a store holds for one version: what ``gc`` weighs and may delete."""

    name: str  # offline: the folder relative to the store root; online: the version id
    location: Path | str  # where it is, for people: a local path or a URL
    mtime: float  # seconds since the epoch of its newest part


@runtime_checkable
class RegistryDialect(Protocol):
    """What differs between the SQL databases a registry lives in."""

    name: str

    def make_engine(self, url: str) -> sa.Engine:
        """An engine for ``url``, set up for embank (isolation, pragmas, pool)."""
        ...

    def lock(self, conn: sa.Connection) -> None:
        """Take the registry's write lock inside the transaction just begun on ``conn``;
        it is released at commit or rollback."""
        ...

    def is_conflict(self, exc: sa.exc.DBAPIError) -> bool:
        """Whether ``exc`` means another writer holds the lock or won a race (retryable)."""
        ...

    def exists(self, url: str) -> bool:
        """Whether the database ``url`` names is there, without creating it."""
        ...

    def change_watcher(self, url: str) -> ChangeWatcher | None:
        """A cheap counter that changes whenever a transaction commits (in any process), or
        None when the database offers none; lets readers cache what they resolved until
        the registry changes."""
        ...


class ChangeWatcher(Protocol):
    def __call__(self) -> int:
        """A value that differs from the last one read iff something committed since."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class OfflineStore(Protocol):
    """Version folders under unique names; immutable once put."""

    url: str
    #: where a version's files are written first (a local folder, same disk for local stores)
    staging_root: Path

    def put(self, staging: Path, name: str) -> None:
        """Make the finished folder ``staging`` the store's folder ``name``
        (``data/<ns>/<name>/<uuid>``), manifest last. Raises OSError on failure."""
        ...

    def local_folder(self, name: str) -> Path:
        """A local folder holding folder ``name``'s files, checked against the manifest's
        sha256 when they were copied. Raises StorageError when they do not match."""
        ...

    def list(self) -> list[StoredItem]:
        """Every version folder the store holds, referenced or not."""
        ...

    def delete(self, name: str) -> None:
        """Remove folder ``name`` and everything in it (no error when absent)."""
        ...


class OnlineReader(Protocol):
    """Keyed lookups into one version."""

    def lookup(self, entity: str, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(len(keys) x dim float32 vectors, found mask); rows not found are zero."""
        ...


@runtime_checkable
class OnlineStore(Protocol):
    """A keyed copy of every version's vectors, rebuildable from the offline files."""

    url: str

    def write(self, version_id: str, rows: VectorTable) -> None:
        """Store ``rows`` under ``version_id``, completion marker last. A publish hands
        the rows in the order it was given them (validated, not sorted: a keyed store
        needs no order, and a sorted copy would cost the table's size again); a rebuild
        hands them in stored order."""
        ...

    def reader(self, version_id: str, local: LocalVersion) -> OnlineReader:
        """Lookups into version ``version_id`` (``local`` gives its offline files)."""
        ...

    def delete(self, version_id: str) -> None:
        """Remove everything stored for ``version_id`` (no error when absent)."""
        ...

    def rebuild(self, version_id: str, local: LocalVersion) -> None:
        """Write version ``version_id`` again from its offline files."""
        ...

    def list(self) -> list[StoredItem]:
        """Every version the store holds data of, complete or not."""
        ...


# -- URLs -------------------------------------------------------------------------------


def scheme_of(url: str) -> str:
    """The URL scheme without a driver (``postgresql+psycopg`` -> ``postgresql``); ``file``
    for a bare path."""
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def redact(url: str) -> str:
    """``url`` without a password, for messages and for the registry's record."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def same_url(a: str, b: str) -> bool:
    """Whether two backend URLs name the same store: local paths by their resolved form,
    URLs without password, query (endpoints, options) or trailing slash."""
    if "embedded" in (a, b):
        return a == b
    if scheme_of(a) != scheme_of(b):
        return False
    if scheme_of(a) == "file":
        return _local_path(a).resolve() == _local_path(b).resolve()
    return _bare(a) == _bare(b)


def _local_path(url: str) -> Path:
    return Path(url[len("file://") :] if url.startswith("file://") else url).expanduser()


def _bare(url: str) -> str:
    parts = urlsplit(redact(url))
    return urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
