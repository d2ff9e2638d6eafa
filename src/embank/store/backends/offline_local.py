"""The local offline store (a folder): ``data/<ns>/<name>/<uuid>/`` beside ``_staging/``
(and ``indexes/<ns>/<name>/<uuid>/``, the folders of ANN indexes).

A version is written into ``_staging/<uuid>/`` and renamed into place (one atomic rename
on one disk), so the store never holds half a folder under its final name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from embank.errors import StorageError
from embank.store import files
from embank.store.backends.base import StoredItem

__all__ = ["DATA", "INDEXES", "STAGING", "LocalOffline"]

DATA = "data"
INDEXES = "indexes"
STAGING = "_staging"


class LocalOffline:
    """Version folders under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self.staging_root = root / STAGING

    @classmethod
    def from_url(cls, url: str, *, bank_id: str) -> LocalOffline:
        path = url[len("file://") :] if url.startswith("file://") else url
        return cls(Path(path).expanduser().absolute())

    def put(self, staging: Path, name: str) -> None:
        final = self.folder(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)
        files.fsync_dir(final.parent)

    def local_folder(self, name: str) -> Path:
        return self.folder(name)

    def list(self) -> list[StoredItem]:
        items = []
        # version folders, and artifact folders (ANN indexes) that live beside them
        for top in (DATA, INDEXES):
            for folder in (self.root / top).glob("*/*/*"):
                if folder.is_dir():
                    relative = folder.relative_to(self.root).as_posix()
                    items.append(StoredItem(relative, folder, folder.stat().st_mtime))
        return items

    def delete(self, name: str) -> None:
        shutil.rmtree(self.folder(name), ignore_errors=True)

    def folder(self, name: str) -> Path:
        """The folder ``name`` under the root; refuses names that lead outside it."""
        folder = (self.root / name).resolve()
        if self.root.resolve() not in folder.parents:
            raise StorageError(f"registry points outside the bank: {name!r}")
        return folder
