"""What one server process holds: its settings, its bank, and the versions it has open.

References are resolved against the registry on every request (:meth:`Bank.resolve`), so a
publish or alias move is served from the next request on, in every worker. Versions never
change, so the open :class:`Embedding` objects (key index, memory maps, search index) are
kept per version, a few at a time; nothing here needs sharing between workers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from embank.serve.settings import ServeSettings
from embank.store.bank import Bank, open_bank
from embank.store.embedding import Embedding

__all__ = ["Service", "get_service"]

T = TypeVar("T")
#: derived values (charts, neighbour overlaps) kept per worker
_MEMO_ENTRIES = 64


class Service:
    """The bank behind the routes, opened on first use (in each worker process)."""

    def __init__(self, settings: ServeSettings, bank: Bank | None = None) -> None:
        self.settings = settings
        self.token = settings.token()
        self._bank = bank
        self._owns_bank = bank is None
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Embedding] = OrderedDict()
        self._drawing: dict[str, threading.Lock] = {}  # version id -> lock of its map
        self._memo: OrderedDict[str, Any] = OrderedDict()

    @property
    def bank(self) -> Bank:
        if self._bank is None:
            with self._lock:
                if self._bank is None:
                    self._bank = open_bank(self.settings.bank, create=False)
        return self._bank

    def embedding(self, name: str, version: int | str | None = None) -> Embedding:
        """The version of table ``name`` that ``version`` (number, alias, None: latest)
        names now."""
        resolved = self.bank.resolve(_ref(name, version))
        found = self._opened(resolved.version_id)
        if found is not None:
            return found
        embedding = self.bank.get(resolved.ref)
        if self.local_reads:
            # Built here, in the caller's worker thread: requests for an open version may
            # be answered on the event loop, which a first key index (~1 s a million
            # keys) would stall.
            _ = embedding.local.key_index
        with self._lock:
            embedding = self._open.setdefault(resolved.version_id, embedding)
            self._open.move_to_end(resolved.version_id)
            while len(self._open) > self.settings.cached_versions:
                self._open.popitem(last=False)
        return embedding

    def open_embedding(self, name: str, version: int | str | None = None) -> Embedding | None:
        """:meth:`embedding` when answering needs no slow I/O: the registry is local
        (SQLite) and the version is open already; None otherwise (call :meth:`embedding`
        in a worker thread). Lets hot routes skip the thread hop (~0.1-0.4 ms a request)."""
        if not self.local_reads:
            return None
        return self._opened(self.bank.resolve(_ref(name, version)).version_id)

    def _opened(self, version_id: str) -> Embedding | None:
        with self._lock:
            found = self._open.get(version_id)
            if found is not None:
                self._open.move_to_end(version_id)
            return found

    @property
    def local_reads(self) -> bool:
        """Whether lookups read only local files: a SQLite registry and the embedded
        online store (memory-mapped), so a lookup can run on the event loop."""
        bank = self.bank
        return bank.registry.dialect.name == "sqlite" and bank.online.url == "embedded"

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()``, kept under ``key`` (a few dozen entries, least recently used go).
        Only for values fixed by their key: of immutable versions, or keyed by content."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = build()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > _MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return value

    def version_map(self, embedding: Embedding) -> dict[str, Any]:
        """The version's stored 2-D map; drawn and stored first when it has none, once
        however many requests ask at the same time (in this worker)."""
        from embank.serve.maps import ensure_map, stored_map

        found = stored_map(self.bank, embedding)
        if found is not None:
            return found
        with self._lock:
            lock = self._drawing.setdefault(embedding.version_id, threading.Lock())
        with lock:
            return ensure_map(self.bank, embedding)

    def close(self) -> None:
        with self._lock:
            self._open.clear()
            self._memo.clear()
            if self._owns_bank and self._bank is not None:
                self._bank.close()
                self._bank = None


async def get_service(request: Request) -> Service:
    """The route dependency: the app's :class:`Service`."""
    return request.app.state.service


def _ref(name: str, version: int | str | None) -> str:
    return name if version is None else f"{name}@{version}"
