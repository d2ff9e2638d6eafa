"""The local files of one version, fetched on first use and memory-mapped.

A version's folder is local for a local offline store, and a sha256-checked cache copy for
a remote one (S3); either way it is only fetched when something reads it, so a lookup
served by Redis never downloads the version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from itertools import repeat
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
        column = self.key_columns.column("key").combine_chunks()
        return column.to_numpy(zero_copy_only=False).astype(object, copy=False)

    @cached_property
    def entities(self) -> np.ndarray:
        column = self.key_columns.column("entity").combine_chunks()
        if isinstance(column, pa.DictionaryArray):
            column = column.dictionary_decode()
        return column.to_numpy(zero_copy_only=False).astype(object, copy=False)

    @cached_property
    def matrix(self) -> np.ndarray:
        """n x dim float32, a read-only memory map."""
        return np.load(self.folder / files.ONLINE_VECTORS, mmap_mode="r", allow_pickle=False)

    @cached_property
    def entity_ranges(self) -> dict[str, tuple[int, int]]:
        """Each entity type's rows ``(lo, hi)``: rows are sorted by entity first, so each
        is one contiguous range (found from the dictionary codes, not row by row)."""
        column = self.key_columns.column("entity").combine_chunks()
        if not isinstance(column, pa.DictionaryArray):
            column = column.dictionary_encode()
        codes = column.indices.to_numpy(zero_copy_only=False)
        names = column.dictionary.to_pylist()
        if not len(codes):
            return {}
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        ends = np.r_[starts[1:], len(codes)]
        return {names[codes[lo]]: (int(lo), int(hi)) for lo, hi in zip(starts, ends, strict=True)}

    @cached_property
    def key_index(self) -> dict[str, dict[str, int]]:
        """Per entity type, key -> row: what a lookup probes (built once, on first use)."""
        keys = self.keys
        return {
            entity: dict(zip(keys[lo:hi].tolist(), range(lo, hi), strict=True))
            for entity, (lo, hi) in self.entity_ranges.items()
        }

    @cached_property
    def row_index(self) -> dict[tuple[str, str], int]:
        """(entity, key) -> row."""
        return {
            (entity, key): row
            for entity, index in self.key_index.items()
            for key, row in index.items()
        }

    def row_of(self, entity: str, key: str) -> int:
        """The row of one key (its canonical text) of one entity type; -1 when absent."""
        index = self.key_index.get(entity)
        return -1 if index is None else index.get(key, -1)

    def rows_of(self, entity: str, keys: Sequence[str]) -> np.ndarray:
        """Row ids of ``keys`` of one entity type, int64, -1 where absent."""
        index = self.key_index.get(entity)
        if index is None:
            return np.full(len(keys), -1, dtype=np.int64)
        return np.fromiter(map(index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
