"""A bank's backends, each chosen by its URL's scheme (docs/backends.md).

========== =========================== ===============================================
kind       URL                          class
========== =========================== ===============================================
registry   ``sqlite:///PATH`` (default) :class:`~.sql.SqliteDialect`
registry   ``postgresql://…``           :class:`~.sql.PostgresDialect` (psycopg 3)
offline    ``PATH`` (default)           :class:`~.offline_local.LocalOffline`
offline    ``s3://BUCKET/PREFIX``       :class:`~.offline_s3.S3Offline` (pyarrow)
online     ``embedded`` (default)       :class:`~.online_embedded.EmbeddedOnline`
online     ``redis://HOST:PORT/DB``     :class:`~.online_redis.RedisOnline`
========== =========================== ===============================================

Each kind is a :class:`~embank.plugins.PluginRegistry` keyed by scheme; built-ins register
here (imported only when used), others through the entry-point groups
``embank.registries``, ``embank.offline_stores`` and ``embank.online_stores`` with a class
naming a callable: ``factory(url, *, bank_id)`` for a store (e.g. ``pkg.mod:Store.from_url``),
``factory()`` for a registry dialect.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from embank.errors import UnknownPluginError, UsageError
from embank.plugins import PluginRegistry
from embank.store.backends.base import (
    OfflineStore,
    OnlineReader,
    OnlineStore,
    RegistryDialect,
    StoredItem,
    redact,
    same_url,
    scheme_of,
)

__all__ = [
    "OfflineStore",
    "OnlineReader",
    "OnlineStore",
    "RegistryDialect",
    "StoredItem",
    "dialect_for",
    "offline_stores",
    "online_stores",
    "open_offline",
    "open_online",
    "redact",
    "registry_dialects",
    "same_url",
    "scheme_of",
]


def _lazy(path: str) -> Callable[..., Any]:
    """Calls ``module:attr`` (e.g. ``pkg.mod:Store.from_url``), importing it on first use,
    so that optional clients (redis, psycopg) load only for banks that use them."""
    module, attr = path.split(":")

    def make(*args: Any, **kwargs: Any) -> Any:
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return target(*args, **kwargs)

    make.__qualname__ = path
    return make


registry_dialects: PluginRegistry[Callable[..., Any]] = PluginRegistry(
    "registry backend", "embank.registries"
)
offline_stores: PluginRegistry[Callable[..., Any]] = PluginRegistry(
    "offline store", "embank.offline_stores"
)
online_stores: PluginRegistry[Callable[..., Any]] = PluginRegistry(
    "online store", "embank.online_stores"
)

_B = "embank.store.backends"
registry_dialects.register("sqlite", _lazy(f"{_B}.sql:SqliteDialect"))
registry_dialects.register("postgresql", _lazy(f"{_B}.sql:PostgresDialect"))
registry_dialects.register("postgres", _lazy(f"{_B}.sql:PostgresDialect"))
offline_stores.register("file", _lazy(f"{_B}.offline_local:LocalOffline.from_url"))
offline_stores.register("s3", _lazy(f"{_B}.offline_s3:S3Offline.from_url"))
online_stores.register("embedded", _lazy(f"{_B}.online_embedded:EmbeddedOnline.from_url"))
online_stores.register("redis", _lazy(f"{_B}.online_redis:RedisOnline.from_url"))
online_stores.register("rediss", _lazy(f"{_B}.online_redis:RedisOnline.from_url"))


def _get(registry: PluginRegistry[Callable[..., Any]], scheme: str, url: str) -> Any:
    try:
        return registry.get(scheme)
    except UnknownPluginError as exc:
        raise UsageError(f"{redact(url)}: {exc}") from None


def dialect_for(url: str) -> RegistryDialect:
    """The registry dialect of ``url`` (``sqlite:///…``, ``postgresql://…``)."""
    return _get(registry_dialects, scheme_of(url), url)()


def open_offline(url: str, bank_id: str) -> OfflineStore:
    """The offline store ``url`` names (a path, or ``s3://bucket/prefix``)."""
    return _get(offline_stores, scheme_of(url), url)(url, bank_id=bank_id)


def open_online(url: str, bank_id: str) -> OnlineStore:
    """The online store ``url`` names (``embedded``, or ``redis://host:port/db``)."""
    scheme = "embedded" if url == "embedded" else scheme_of(url)
    return _get(online_stores, scheme, url)(url, bank_id=bank_id)
