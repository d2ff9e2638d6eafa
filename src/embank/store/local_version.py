"""The local files of one version, fetched on first use and memory-mapped.

A version's folder is local for a local offline store, and a sha256-checked cache copy for
a remote one (S3); either way it is only fetched when something reads it, so a lookup
served by Redis never downloads the version.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from embank.store import files

__all__ = ["LocalVersion"]


class LocalVersion:
    """Keys, entities and the vector matrix of one version, read lazily from its folder."""

    def __init__(self, fetch: Callable[[], Path]) -> None:
        self._fetch = fetch

    @cached_property
    def folder(self) -> Path:
        """The local folder of the version's files (fetched on first use)."""
        return self._fetch()

    @cached_property
    def key_columns(self) -> pa.Table:
        return files.read_keys(self.folder)

    @cached_property
    def keys(self) -> np.ndarray:
        return np.asarray(self.key_columns.column("key").to_pylist(), dtype=object)

    @cached_property
    def entities(self) -> np.ndarray:
        column = self.key_columns.column("entity").combine_chunks()
        if isinstance(column, pa.DictionaryArray):
            column = column.dictionary_decode()
        return np.asarray(column.to_pylist(), dtype=object)

    @cached_property
    def matrix(self) -> np.ndarray:
        """n x dim float32, a read-only memory map."""
        return np.load(self.folder / files.ONLINE_VECTORS, mmap_mode="r", allow_pickle=False)

    @cached_property
    def entity_ranges(self) -> dict[str, tuple[int, int]]:
        # Rows are sorted by entity first, so each entity is one contiguous range.
        ranges: dict[str, tuple[int, int]] = {}
        for row, entity in enumerate(self.entities):
            lo, _ = ranges.get(entity, (row, row))
            ranges[entity] = (lo, row + 1)
        return ranges

    @cached_property
    def row_index(self) -> dict[tuple[str, str], int]:
        return {(e, k): i for i, (e, k) in enumerate(zip(self.entities, self.keys, strict=True))}
