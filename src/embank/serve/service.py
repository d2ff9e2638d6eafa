"""What one server process holds: its settings, its bank, and the versions it has open.

References are resolved against the registry on every request (one read, ~1 ms), so a
publish or alias move is served from the next request on, in every worker. Versions never
change, so the open :class:`Embedding` objects (key index, memory maps, search index) are
kept per version, a few at a time; nothing here needs sharing between workers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from fastapi import Request

from embank.serve.admin import resolve_version
from embank.serve.settings import ServeSettings
from embank.store.bank import Bank, open_bank
from embank.store.embedding import Embedding

__all__ = ["Service", "get_service"]


class Service:
    """The bank behind the routes, opened on first use (in each worker process)."""

    def __init__(self, settings: ServeSettings, bank: Bank | None = None) -> None:
        self.settings = settings
        self.token = settings.token()
        self._bank = bank
        self._owns_bank = bank is None
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Embedding] = OrderedDict()

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
        ref = name if version is None else f"{name}@{version}"
        resolved = resolve_version(self.bank, ref)
        with self._lock:
            found = self._open.get(resolved.version_id)
            if found is not None:
                self._open.move_to_end(resolved.version_id)
                return found
        embedding = self.bank.get(resolved.ref)
        with self._lock:
            embedding = self._open.setdefault(resolved.version_id, embedding)
            self._open.move_to_end(resolved.version_id)
            while len(self._open) > self.settings.cached_versions:
                self._open.popitem(last=False)
        return embedding

    def close(self) -> None:
        with self._lock:
            self._open.clear()
            if self._owns_bank and self._bank is not None:
                self._bank.close()
                self._bank = None


def get_service(request: Request) -> Service:
    """The route dependency: the app's :class:`Service`."""
    return request.app.state.service
