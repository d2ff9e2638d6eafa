"""The embedded online store (``embedded``): memory-mapped files in the version folder.

``online.keys.arrow`` and ``online.vectors.npy`` are written with every version's files
(they are also what ``to_numpy`` and exact search read), so a write here is nothing to do
and a lookup is a dictionary probe plus a row gather from the memory map.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embank.store import files
from embank.store.backends.base import StoredItem

if TYPE_CHECKING:
    from embank.store.local_version import LocalVersion
    from embank.vector_table import VectorTable

__all__ = ["EmbeddedOnline"]


class _Reader:
    def __init__(self, local: LocalVersion) -> None:
        self.local = local

    def lookup(self, entity: str, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = self.local.rows_of(entity, keys)
        found = rows >= 0
        matrix = self.local.matrix
        out = np.empty((len(keys), matrix.shape[1]), dtype=np.float32)
        if found.all():  # the usual case: one gather, no zero fill
            np.take(matrix, rows, axis=0, out=out)
            return out, found
        out[:] = 0
        out[found] = matrix[rows[found]]
        return out, found


class EmbeddedOnline:
    """Lookups from the version folder's memory-mapped files."""

    url = "embedded"

    @classmethod
    def from_url(cls, url: str, *, bank_id: str) -> EmbeddedOnline:
        return cls()

    def write(self, version_id: str, rows: VectorTable) -> None:
        """Nothing to do: the files are written with the version's other files."""

    def reader(self, version_id: str, local: LocalVersion) -> _Reader:
        return _Reader(local)

    def delete(self, version_id: str) -> None:
        """Nothing to do: the files go with their version folder."""

    def rebuild(self, version_id: str, local: LocalVersion) -> None:
        """Write the online files again from ``vectors.parquet``, each replaced atomically
        (the same bytes as at publish, so the manifest's sha256 still hold)."""
        folder = local.folder
        rows, table = files.read_offline(folder)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".rebuild-") as tmp:
            written = files.write_online_files(Path(tmp), rows, table.vectors)
            for name in written:
                os.replace(Path(tmp) / name, folder / name)

    def list(self) -> list[StoredItem]:
        return []  # nothing outside the version folders
