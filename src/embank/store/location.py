"""Where the bank is: ``--bank``, else ``EMBANK_BANK``, else ``./embank.toml``, else ``./bank``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from embank.errors import UsageError

__all__ = ["BankLocation", "resolve_location"]

CONFIG_FILE = "embank.toml"
DEFAULT_FOLDER = "bank"


@dataclass(frozen=True)
class BankLocation:
    root: Path  # the local folder holding the registry and the version files
    source: str  # how it was chosen: --bank, EMBANK_BANK, embank.toml or default
    registry_url: str | None = None  # an explicit registry URL from embank.toml


def _as_folder(url: str, source: str) -> Path:
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"{source}: bank URL scheme {scheme!r} is not supported yet; use a local folder"
        )
    return Path(url).expanduser()


def resolve_location(
    explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None
) -> BankLocation:
    """Find the bank the way every command does."""
    cwd = cwd or Path.cwd()
    if explicit is not None:
        return BankLocation(_as_folder(os.fspath(explicit), "--bank").absolute(), "--bank")
    env = os.environ.get("EMBANK_BANK")
    if env:
        return BankLocation(_as_folder(env, "EMBANK_BANK").absolute(), "EMBANK_BANK")
    config_path = cwd / CONFIG_FILE
    if config_path.exists():
        try:
            config = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{config_path}: not valid TOML: {exc}") from None
        section = config.get("bank", {})
        url = section.get("url")
        if not isinstance(url, str):
            raise UsageError(f'{config_path}: [bank] needs url = "PATH"')
        root = _as_folder(url, str(config_path))
        if not root.is_absolute():
            root = cwd / root
        return BankLocation(root, str(config_path), section.get("registry"))
    return BankLocation((cwd / DEFAULT_FOLDER).absolute(), "default")
