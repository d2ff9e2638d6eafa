"""Where the bank is, and which backends it names.

The bank comes from the first of these places that names anything; settings from
different places are never mixed:

1. ``--bank URL|PATH`` / ``embank.open(location, registry=, offline=, online=)``;
2. ``EMBANK_BANK``, ``EMBANK_REGISTRY``, ``EMBANK_OFFLINE``, ``EMBANK_ONLINE``;
3. ``./embank.toml``: ``[bank]`` with ``url`` and optional ``registry``, ``offline``,
   ``online`` (relative paths are relative to the file's folder);
4. the folder ``./bank``.

A bank URL is a folder (a local bank: ``registry.db`` and the version folders inside it,
unless other backends are named) or a registry URL (``sqlite:///…``, ``postgresql://…``),
whose ``bank_info`` then names the offline and online stores: a consumer needs nothing else.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from embank.errors import UsageError
from embank.store.backends.base import redact, scheme_of

__all__ = ["REGISTRY_FILE", "BankLocation", "resolve_location"]

CONFIG_FILE = "embank.toml"
DEFAULT_FOLDER = "bank"
REGISTRY_FILE = "registry.db"
_REGISTRY_SCHEMES = ("sqlite", "postgresql", "postgres")
_ENV = {
    "url": "EMBANK_BANK",
    "registry": "EMBANK_REGISTRY",
    "offline": "EMBANK_OFFLINE",
    "online": "EMBANK_ONLINE",
}


@dataclass(frozen=True)
class BankLocation:
    """A bank as a client names it; what it leaves out, the registry's record fills in."""

    source: str  # how it was chosen: --bank, EMBANK_BANK, embank.toml or default
    registry_url: str  # sqlite:///<root>/registry.db for a folder bank
    root: Path | None = None  # the bank folder, when the bank is a folder
    offline_url: str | None = None  # named by the client; None: the registry's record
    online_url: str | None = None

    @property
    def label(self) -> str:
        """The bank for messages: its folder, else its registry URL (no password)."""
        return str(self.root) if self.root is not None else redact(self.registry_url)

    @property
    def own_registry(self) -> bool:
        """Whether the registry is the folder's own ``registry.db``."""
        return self.root is not None and self.registry_url == _sqlite_url(self.root / REGISTRY_FILE)


def resolve_location(
    explicit: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    *,
    registry: str | None = None,
    offline: str | os.PathLike[str] | None = None,
    online: str | None = None,
) -> BankLocation:
    """Find the bank the way every command does (see the module docstring)."""
    cwd = cwd or Path.cwd()
    if any(v is not None for v in (explicit, registry, offline, online)):
        url = os.fspath(explicit) if explicit is not None else None
        source = "--bank" if explicit is not None else "embank.open()"
        off = os.fspath(offline) if offline is not None else None
        return _build(source, cwd, url, registry, off, online)
    named = {field: os.environ.get(var) or None for field, var in _ENV.items()}
    if any(named.values()):
        source = ", ".join(_ENV[f] for f, v in named.items() if v)
        return _build(source, cwd, **named)
    config_path = cwd / CONFIG_FILE
    if config_path.exists():
        try:
            config = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{config_path}: not valid TOML: {exc}") from None
        section = config.get("bank", {})
        unknown = sorted(set(section) - set(_ENV))
        if unknown:
            raise UsageError(
                f"{config_path}: [bank] has unknown key(s) {unknown}; known: {sorted(_ENV)}"
            )
        for field, value in section.items():
            if not isinstance(value, str):
                raise UsageError(f'{config_path}: [bank] {field} must be a string, "URL|PATH"')
        if "url" not in section and "registry" not in section:
            raise UsageError(f'{config_path}: [bank] needs url = "PATH" (or registry = "URL")')
        return _build(
            str(config_path),
            config_path.parent,
            section.get("url"),
            section.get("registry"),
            section.get("offline"),
            section.get("online"),
        )
    return _build("default", cwd, DEFAULT_FOLDER, None, None, None)


def _build(
    source: str,
    base: Path,
    url: str | None,
    registry: str | None,
    offline: str | None,
    online: str | None,
) -> BankLocation:
    root: Path | None = None
    if registry is not None and scheme_of(registry) not in _REGISTRY_SCHEMES:
        raise UsageError(
            f"{source}: registry {redact(registry)!r} is not a registry URL; "
            "use sqlite:///PATH or postgresql://HOST/DATABASE"
        )
    if url is not None:
        scheme = scheme_of(url)
        if scheme in _REGISTRY_SCHEMES:
            if registry is not None and registry != url:
                raise UsageError(
                    f"{source}: the bank URL {redact(url)!r} and registry "
                    f"{redact(registry)!r} name two registries; give one"
                )
            registry = url
        elif scheme == "file":
            root = _local(url, base)
        else:
            raise UsageError(
                f"{source}: a bank is opened by its folder or its registry URL "
                f"(sqlite:///…, postgresql://…), not {scheme}://; name an offline or online "
                "store as offline= / online= (EMBANK_OFFLINE, EMBANK_ONLINE)"
            )
    if registry is None:
        root = root or (base / DEFAULT_FOLDER).absolute()
        registry = _sqlite_url(root / REGISTRY_FILE)
    if offline is not None and scheme_of(offline) == "file":
        offline = str(_local(offline, base))
    return BankLocation(source, registry, root, offline, online)


def _local(url: str, base: Path) -> Path:
    path = Path(url[len("file://") :] if url.startswith("file://") else url).expanduser()
    return path if path.is_absolute() else (base / path).absolute()


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
