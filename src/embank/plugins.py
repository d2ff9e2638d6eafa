"""One small generic registry for every kind of plugin (algorithms, benchmarks, ...).

Built-ins register exactly as third-party packages do: through an entry-point group
(``embank.algorithms``, ``embank.benchmarks``), loaded lazily on first use. A registry
refuses a duplicate name and, on a miss, lists the names it knows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from embank.errors import EmbankError, UnknownPluginError

__all__ = ["PluginRegistry"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Maps names to plugin classes, filled from an entry-point group on first use."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._plugins: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, plugin: T) -> T:
        """Add ``plugin`` under ``name``; a second plugin under one name is refused."""
        existing = self._plugins.get(name)
        if existing is not None and existing is not plugin:
            raise EmbankError(
                f"two {self.kind}s are registered as {name!r}: "
                f"{_qualname(existing)} and {_qualname(plugin)}; uninstall one of them"
            )
        self._plugins[name] = plugin
        return plugin

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated class."""
        return lambda plugin: self.register(name, plugin)

    def get(self, name: str) -> T:
        """The plugin called ``name``; the error lists every known name."""
        self._load_entry_points()
        try:
            return self._plugins[name]
        except KeyError:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise UnknownPluginError(
                f"unknown {self.kind} {name!r}; known {self.kind}s: {known}"
            ) from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._plugins)

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._plugins:
                continue
            try:
                self.register(ep.name, ep.load())
            except EmbankError:
                raise
            except Exception as exc:  # a broken plugin must not break the others
                log.warning("could not load %s %r from %s: %s", self.kind, ep.name, ep.value, exc)


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
