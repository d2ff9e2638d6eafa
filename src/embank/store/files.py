"""The files of one version, written once into staging and never changed after.

A version folder holds ``vectors.parquet`` (the offline store: entity, key, vector as
FixedSizeList<float32>), the embedded online store (``online.keys.arrow`` + ``online.vectors.npy``,
memory-mapped by readers), optional ``attributes.parquet`` (labels), optional
``holdout.parquet`` (pairs kept out of the fit), the other benchmark inputs the fit saw
(``metadata.parquet``, ``graph.parquet``, ``interactions.parquet``, ``sequences.parquet``;
see :mod:`embank.store.inputs`), and ``manifest.json`` with the sha256 of every file,
written last. Rows are sorted by (entity, key) bytewise and
the row id is the position in every file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from embank.benchmarks.base import BenchmarkInputs
from embank.data.graph import Labels
from embank.errors import StorageError
from embank.store import inputs as stored_inputs
from embank.vector_table import VectorTable

__all__ = [
    "ATTRIBUTES",
    "HOLDOUT",
    "INPUT_FILES",
    "MANIFEST",
    "OFFLINE",
    "ONLINE_KEYS",
    "ONLINE_VECTORS",
    "content_hash",
    "fsync_dir",
    "read_benchmark_inputs",
    "read_holdout",
    "read_keys",
    "read_labels",
    "read_manifest",
    "read_offline",
    "sha256_file",
    "stored_input_files",
    "verify_manifest",
    "write_online_files",
    "write_version_files",
]

OFFLINE = "vectors.parquet"
ONLINE_KEYS = "online.keys.arrow"
ONLINE_VECTORS = "online.vectors.npy"
ATTRIBUTES = "attributes.parquet"
HOLDOUT = "holdout.parquet"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_HASH_ROWS = 1 << 20
#: files that hold what benchmarks read; their sha256 also go into the version's lineage
INPUT_FILES = (
    ATTRIBUTES,
    HOLDOUT,
    stored_inputs.METADATA,
    stored_inputs.GRAPH,
    stored_inputs.INTERACTIONS,
    stored_inputs.SEQUENCES,
)


def content_hash(table: VectorTable) -> str:
    """sha256 over every row: length-prefixed entity and key bytes, then the float32 rows.

    Each row contributes ``len(entity) entity len(key) key`` (lengths as 4-byte little-endian
    counts of UTF-8 bytes); the rows' bytes are assembled by Arrow kernels, a million rows
    at a time, not row by row in Python.
    """
    digest = hashlib.sha256()
    for lo in range(0, table.n_rows, _HASH_ROWS):
        hi = min(lo + _HASH_ROWS, table.n_rows)
        parts = []
        for texts in (table.entities[lo:hi], table.keys[lo:hi]):
            data = pa.array(texts, pa.string()).cast(pa.large_binary())
            lengths = np.asarray(pc.binary_length(data), dtype="<u4")
            prefix = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4), hi - lo, [None, pa.py_buffer(lengths)]
            )
            parts += [prefix.cast(pa.large_binary()), data]
        rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.large_binary()))
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=hi - lo + 1)
        digest.update(memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]])
    digest.update(np.ascontiguousarray(table.vectors, dtype="<f4").tobytes())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _arrow_rows(table: VectorTable) -> pa.Table:
    flat = pa.array(table.vectors.reshape(-1), type=pa.float32())
    vectors = pa.FixedSizeListArray.from_arrays(flat, table.dim)
    return pa.table(
        {
            "entity": pa.array(table.entities.tolist(), type=pa.string()).dictionary_encode(),
            "key": pa.array(table.keys.tolist(), type=pa.string()),
            "vector": vectors,
        }
    )


def write_version_files(
    folder: Path,
    table: VectorTable,
    labels: Labels | None,
    holdout: pd.DataFrame | None,
    meta: dict[str, Any],
    inputs: BenchmarkInputs | None = None,
) -> dict[str, Any]:
    """Write every file of a version into ``folder`` (sorted rows), manifest last.

    ``inputs`` adds the benchmark inputs beyond labels and hold-out (metadata, graph,
    interactions), so the version's benchmarks can be re-run without the sources.
    """
    rows = _arrow_rows(table)
    pq.write_table(rows, folder / OFFLINE, compression="zstd")
    files = [OFFLINE, *write_online_files(folder, rows, table.vectors)]
    if labels is not None and len(labels.pairs):
        pairs = labels.pairs.sort_values(["key", "label"], kind="stable")
        pq.write_table(
            pa.table(
                {
                    "entity": pa.array([labels.entity] * len(pairs), type=pa.string()),
                    "key": pa.array(pairs["key"].astype(str).tolist(), type=pa.string()),
                    "label": pa.array(pairs["label"].astype(str).tolist(), type=pa.string()),
                }
            ),
            folder / ATTRIBUTES,
        )
        files.append(ATTRIBUTES)
    if holdout is not None and len(holdout):
        columns = ["src_entity", "src", "dst_entity", "dst"]
        pq.write_table(
            pa.table({c: pa.array(holdout[c].astype(str).tolist(), pa.string()) for c in columns}),
            folder / HOLDOUT,
        )
        files.append(HOLDOUT)
    if inputs is not None:
        if inputs.metadata is not None:
            files += stored_inputs.write_metadata(folder, inputs.metadata)
        if inputs.graph is not None:
            files += stored_inputs.write_graph(folder, inputs.graph)
        if inputs.interactions is not None:
            files += stored_inputs.write_interactions(folder, inputs.interactions)
    for name in files:
        _fsync(folder / name)
    manifest = {
        "format_version": FORMAT_VERSION,
        "n_rows": table.n_rows,
        "dim": table.dim,
        "files": {
            name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
            for name in files
        },
        **meta,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    _fsync(folder / MANIFEST)
    fsync_dir(folder)
    return manifest


def write_online_files(folder: Path, rows: pa.Table, vectors: np.ndarray) -> list[str]:
    """The embedded online store: keys (Arrow IPC) and float32 rows (``.npy``), both read
    memory-mapped. Written the same way at publish and on a rebuild, so the bytes match."""
    keys = rows.select(["entity", "key"])
    with (
        pa.OSFile(str(folder / ONLINE_KEYS), "wb") as sink,
        pa.ipc.new_file(sink, keys.schema) as writer,
    ):
        writer.write_table(keys)
    np.save(folder / ONLINE_VECTORS, np.ascontiguousarray(vectors, np.float32), allow_pickle=False)
    return [ONLINE_KEYS, ONLINE_VECTORS]


def read_offline(folder: Path) -> tuple[pa.Table, VectorTable]:
    """The version's rows from ``vectors.parquet`` (the offline store, the source of truth):
    the Arrow table as stored, and the rows as a :class:`VectorTable`."""
    rows = pq.read_table(folder / OFFLINE)
    vector = rows.column("vector").combine_chunks()
    dim = vector.type.list_size
    matrix = vector.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    entity = rows.column("entity").combine_chunks()
    if isinstance(entity, pa.DictionaryArray):
        entity = entity.dictionary_decode()
    table = VectorTable(
        np.asarray(entity.to_pylist(), dtype=object),
        np.asarray(rows.column("key").to_pylist(), dtype=object),
        matrix.astype(np.float32, copy=False),
    )
    return rows, table


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise StorageError(f"version folder {folder} has no {MANIFEST}: it is damaged") from None


def verify_manifest(folder: Path) -> list[str]:
    """Names of files whose sha256 differs from the manifest (empty when intact)."""
    manifest = read_manifest(folder)
    bad = []
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.exists() or sha256_file(path) != entry["sha256"]:
            bad.append(name)
    return bad


def read_keys(folder: Path) -> pa.Table:
    """The (entity, key) columns of the online store, memory-mapped."""
    with pa.memory_map(str(folder / ONLINE_KEYS), "r") as source:
        return pa.ipc.open_file(source).read_all()


def read_holdout(folder: Path) -> pd.DataFrame | None:
    path = folder / HOLDOUT
    return pq.read_table(path).to_pandas() if path.exists() else None


def read_labels(folder: Path) -> Labels | None:
    path = folder / ATTRIBUTES
    if not path.exists():
        return None
    frame = pq.read_table(path).to_pandas()
    if frame.empty:
        return None
    entity = str(frame["entity"].iloc[0])
    return Labels(entity=entity, pairs=frame[["key", "label"]].reset_index(drop=True))


def read_benchmark_inputs(folder: Path, verify: bool = True) -> BenchmarkInputs:
    """What the version stores for its benchmarks, as the fit's pipeline handed it on.

    ``verify`` first checks each stored input against the manifest's sha256 and raises
    :class:`StorageError` naming the files that changed.
    """
    if verify:
        entries = read_manifest(folder)["files"]
        bad = [
            name
            for name in INPUT_FILES
            if name in entries
            and (
                not (folder / name).exists()
                or sha256_file(folder / name) != entries[name]["sha256"]
            )
        ]
        if bad:
            raise StorageError(
                f"stored benchmark inputs of {folder} differ from its manifest: {', '.join(bad)}"
            )
    return BenchmarkInputs(
        labels=read_labels(folder),
        holdout=read_holdout(folder),
        interactions=stored_inputs.read_interactions(folder),
        graph=stored_inputs.read_graph(folder),
        metadata=stored_inputs.read_metadata(folder),
    )


def stored_input_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest entries (sha256, bytes) of the benchmark inputs a version stores."""
    return {name: entry for name, entry in manifest["files"].items() if name in INPUT_FILES}
