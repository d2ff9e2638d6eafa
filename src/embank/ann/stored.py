"""A version's saved index: built after its publish commits, kept in the offline store,
recorded as the version's ``index`` artifact, loaded by ``Embedding.neighbors``.

One index per entity type (:func:`~embank.ann.entities.build_entity_indexes`), in the
table's metric, its knob tuned to the recall target, recall@10 against exact search on a
query sample measured and stored in the artifact's meta (one
:class:`~embank.ann.tuning.IndexReport` per entity). An entity type under
:data:`~embank.ann.build.EXACT_BELOW_ROWS` rows is searched exactly: it has a report and
no files, and a table searched exactly throughout has an ``inline`` artifact and no
folder at all.

The files of the other entity types go to ``indexes/<ns>/<name>/<uuid>/`` in the offline
store (a local folder, or S3: uploaded after the build, downloaded into ``$EMBANK_CACHE``
and checked against the folder's manifest on first use), a fresh folder per build::

    manifest.json        sha256 of every file below (written last)
    <entity>/meta.json   kind, metric, dim, n_rows, params, files
    <entity>/rows.npy    int64: the table row of each index id
    <entity>/hnsw.bin | faiss.index | vectors.npy

The meta names the version's folder id and content hash, and an index is only ever used
for the version whose id and hash it names.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embank._version import __version__
from embank.ann.build import load_index
from embank.ann.entities import ROWS_FILE, RowMappedIndex, build_entity_indexes
from embank.ann.tuning import IndexReport
from embank.errors import EmbankError, StorageError, ValidationError
from embank.progress import NullProgress, Progress
from embank.store import files
from embank.store.artifacts import INDEXES, INLINE

if TYPE_CHECKING:
    from embank.store.bank import Bank
    from embank.store.embedding import Embedding

__all__ = [
    "INDEX_ARTIFACT",
    "INDEX_KINDS",
    "VersionIndex",
    "build_version_index",
    "load_version_index",
]

log = logging.getLogger(__name__)

#: the artifact kind of a version's index
INDEX_ARTIFACT = "index"
#: what ``publish.index`` and ``embank index --kind`` accept (``none``: build nothing)
INDEX_KINDS = ("auto", "none", "exact", "hnswlib", "faiss-hnsw", "ivfpq")
FORMAT = 1


@dataclass
class VersionIndex:
    """The loaded index of one version: an ANN per entity type, or None where that type
    is searched exactly; ``meta`` is the artifact's (reports included)."""

    version_id: str
    entities: dict[str, RowMappedIndex | None]
    meta: dict[str, Any]

    def ann(self, entity: str) -> RowMappedIndex | None:
        """The ANN index of ``entity``'s rows, or None (exact search)."""
        return self.entities.get(entity)

    @property
    def reports(self) -> dict[str, IndexReport]:
        return {e: IndexReport.from_dict(i["report"]) for e, i in self.meta["entities"].items()}


def build_version_index(
    bank: Bank,
    embedding: Embedding,
    *,
    kind: str = "auto",
    recall_target: float = 0.95,
    n_queries: int = 1000,
    seed: int = 0,
    n_threads: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build, tune and measure the index of ``embedding``'s version, store its files and
    record it as the version's ``index`` artifact (replacing an older one); returns the
    artifact's meta (``entities`` -> per-entity ``kind``, ``rows`` and ``report``).

    Raises :class:`ValidationError` for an unknown ``kind`` or a target outside (0, 1],
    :class:`~embank.errors.MissingExtraError` for a faiss kind without faiss, and
    :class:`StorageError` when the files cannot be stored (nothing is recorded then).
    """
    if kind not in INDEX_KINDS or kind == "none":
        allowed = ", ".join(k for k in INDEX_KINDS if k != "none")
        raise ValidationError(f"index kind {kind!r}: use one of {allowed}")
    if not 0.0 < recall_target <= 1.0:
        raise ValidationError(f"recall target must be in (0, 1], got {recall_target}")
    progress = progress if progress is not None else NullProgress()
    threads = n_threads or os.cpu_count() or 1
    start = time.perf_counter()
    indexes = build_entity_indexes(
        embedding.to_numpy(),
        embedding.entities,
        embedding.metric,
        kind=kind,
        target_recall=recall_target,
        n_queries=n_queries,
        seed=seed,
        progress=progress,
        n_threads=threads,
    )
    ranges = embedding.local.entity_ranges
    entities = {
        entity: {
            "kind": index.kind,
            "rows": list(ranges[entity]),
            "report": indexes.reports[entity].to_dict(),
        }
        for entity, index in indexes.items()
    }
    kinds = sorted({info["kind"] for info in entities.values()})
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version_id": embedding.version_id,
        "content_hash": embedding.version_info.content_hash,
        "kind": kinds[0] if len(kinds) == 1 else "mixed",
        "metric": embedding.metric,
        "recall_target": recall_target,
        "recall_at_10": min(info["report"]["recall_at_10"] for info in entities.values()),
        "reached_target": all(info["report"]["reached_target"] for info in entities.values()),
        "n_rows": embedding.n_rows,
        "entities": entities,
        "code_version": f"embank {__version__}",
    }
    to_save = {e: index for e, index in indexes.items() if index.kind != "exact"}
    path = INLINE
    if to_save:
        path = f"{INDEXES}/{embedding.name}/{uuid.uuid4().hex}"
        with progress.task(f"storing the index of {embedding.name}@{embedding.version}"):
            _store(bank, path, to_save, meta)
    meta["build_s"] = round(time.perf_counter() - start, 3)
    try:
        bank.put_artifact(
            embedding.name, embedding.version, INDEX_ARTIFACT, meta, path, replace=True
        )
    except BaseException:
        if path != INLINE:
            bank.offline.delete(path)  # never referenced; gc would remove it too
        raise
    return meta


def _store(bank: Bank, path: str, indexes: Mapping[str, RowMappedIndex], meta: dict) -> None:
    """Write the indexes into a staging folder with a manifest, then put it in the store."""
    staging = bank.offline.staging_root / uuid.uuid4().hex
    try:
        staging.mkdir(parents=True)
        for entity, index in indexes.items():
            index.inner.save(staging / entity)
            np.save(staging / entity / ROWS_FILE, index.rows, allow_pickle=False)
        names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT,
            "artifact": INDEX_ARTIFACT,
            "version_id": meta["version_id"],
            "files": {
                name: {
                    "sha256": files.sha256_file(staging / name),
                    "bytes": (staging / name).stat().st_size,
                }
                for name in names
            },
        }
        (staging / files.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        bank.offline.put(staging, path)
    except OSError as exc:
        raise StorageError(
            f"could not store the index files at {path} ({exc}); the version still serves "
            "by exact search: free space and run `embank index NAME@V` again"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_version_index(bank: Bank, embedding: Embedding) -> VersionIndex | None:
    """The saved index of ``embedding``'s version, memory-mapped where its kinds allow, or
    None while the version has none (or only one built for other rows: never used)."""
    found = bank.artifact(embedding.name, embedding.version, INDEX_ARTIFACT)
    if found is None:
        return None
    meta = found.meta
    if meta.get("format") != FORMAT:
        return None
    if (meta.get("version_id"), meta.get("content_hash")) != (
        embedding.version_id,
        embedding.version_info.content_hash,
    ):
        log.warning(
            "the index recorded for %s@%s was built for other rows; searching exactly "
            "(`embank index %s@%s` builds a new one)",
            embedding.name,
            embedding.version,
            embedding.name,
            embedding.version,
        )
        return None
    entities: dict[str, RowMappedIndex | None] = dict.fromkeys(meta["entities"])
    if found.has_files:
        folder = bank.offline.local_folder(found.path)
        for entity, info in meta["entities"].items():
            if info["kind"] == "exact":
                continue
            try:
                rows = np.load(folder / entity / ROWS_FILE, mmap_mode="r", allow_pickle=False)
                entities[entity] = RowMappedIndex(load_index(folder / entity), rows, entity)
            except (EmbankError, OSError, ValueError) as exc:
                raise StorageError(
                    f"the index of {embedding.name}@{embedding.version} at {found.path} "
                    f"cannot be read ({exc}); rebuild it with `embank index "
                    f"{embedding.name}@{embedding.version}`"
                ) from None
    return VersionIndex(embedding.version_id, entities, meta)
