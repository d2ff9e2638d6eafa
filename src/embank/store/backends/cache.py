"""The local cache of remote versions: its size, and least-recently-used eviction.

An S3 bank copies each version it reads under ``$EMBANK_CACHE/<bank_id>/data/...`` (and
each saved ANN index under ``indexes/...``). Left
alone the cache only grows, so ``$EMBANK_CACHE_MAX_BYTES`` (e.g. ``20G``) bounds it: after
each download the least recently used version folders go until the rest fit, never the one
just read. A folder's last use is its mtime, touched on every cache hit. Removing a folder
that a reader has memory-mapped is safe on POSIX (the mapping keeps the inode); the next
reader downloads it again. ``embank cache`` shows and prunes it by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from embank.errors import UsageError

__all__ = ["CachedVersion", "cached_versions", "max_cache_bytes", "parse_size", "prune"]

MAX_BYTES_ENV = "EMBANK_CACHE_MAX_BYTES"
#: cached folders: version files, and the ANN indexes built beside them (one sub-folder
#: per entity type inside)
_TOPS = ("data", "indexes")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CachedVersion:
    path: Path
    n_bytes: int
    last_used: float  # seconds since the epoch


def parse_size(text: str) -> int:
    """``"20G"``, ``"512M"``, ``"1.5GiB"``, ``"1000"`` -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"cannot read {text!r} as a size: write e.g. 20G, 512M or 1000000")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def max_cache_bytes() -> int | None:
    """The bound from ``$EMBANK_CACHE_MAX_BYTES``, None when unset (no eviction)."""
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return None
    try:
        return parse_size(text)
    except UsageError as exc:
        raise UsageError(f"{MAX_BYTES_ENV}: {exc}") from None


def cached_versions(cache: Path) -> list[CachedVersion]:
    """Every complete version (and ANN index) copy under ``cache``, least recently used
    first."""
    found = []
    for top in _TOPS:
        for manifest in cache.glob(f"{top}/*/*/*/manifest.json"):
            folder = manifest.parent
            try:
                size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                found.append(CachedVersion(folder, size, folder.stat().st_mtime))
            except FileNotFoundError:  # removed by another process meanwhile
                continue
    return sorted(found, key=lambda v: (v.last_used, str(v.path)))


def touch(folder: Path) -> None:
    """Mark ``folder`` as just used (best effort: a read-only cache is still a cache)."""
    with contextlib.suppress(OSError):
        os.utime(folder)


def prune(cache: Path, max_bytes: int, keep: Path | None = None) -> list[CachedVersion]:
    """Remove least recently used version copies until the rest fit in ``max_bytes``;
    never ``keep``. Returns what was removed."""
    versions = cached_versions(cache)
    total = sum(v.n_bytes for v in versions)
    removed = []
    for version in versions:
        if total <= max_bytes:
            break
        if keep is not None and version.path == keep:
            continue
        shutil.rmtree(version.path, ignore_errors=True)
        total -= version.n_bytes
        removed.append(version)
    return removed
