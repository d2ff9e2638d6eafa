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
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npformat
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from embank.benchmarks.base import BenchmarkInputs
from embank.data.graph import Labels
from embank.errors import StorageError
from embank.store import faults
from embank.store import inputs as stored_inputs
from embank.vector_table import SortedRows, VectorTable

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
    "read_row_attributes",
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
#: per-row attributes in row order (entity, key, e.g. folded, support): see write_version_files
ROW_ATTRIBUTES = "row_attributes.parquet"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_HASH_ROWS = 1 << 20
_BLOCK_BYTES = 32 << 20
_MAX_BLOCK_ROWS = 1 << 20
_WRITE_BYTES = 16 << 20
#: files that hold what benchmarks read; their sha256 also go into the version's lineage
INPUT_FILES = (
    ATTRIBUTES,
    HOLDOUT,
    stored_inputs.METADATA,
    stored_inputs.GRAPH,
    stored_inputs.INTERACTIONS,
    stored_inputs.SEQUENCES,
)


def content_hash(table: VectorTable | SortedRows) -> str:
    """sha256 over every row: length-prefixed entity and key bytes, then the float32 rows.

    Each row contributes ``len(entity) entity len(key) key`` (lengths as 4-byte little-endian
    counts of UTF-8 bytes); the rows' bytes are assembled by Arrow kernels, a million rows
    at a time, not row by row in Python, and the vectors are hashed in place (no copy).
    """
    rows = table if isinstance(table, SortedRows) else SortedRows.presorted(table)
    digest = _hash_keys(rows)
    for lo, hi in _blocks(rows):
        digest.update(_raw_bytes(rows.vectors(lo, hi)))
    return digest.hexdigest()


def _hash_keys(rows: SortedRows) -> Any:
    """A sha256 fed the first part of the content hash: every row's entity and key."""
    digest = hashlib.sha256()
    for lo in range(0, rows.n_rows, _HASH_ROWS):
        hi = min(lo + _HASH_ROWS, rows.n_rows)
        parts = []
        for texts in (rows.entities.slice(lo, hi - lo), rows.keys.slice(lo, hi - lo)):
            data = texts.cast(pa.large_binary())
            lengths = np.asarray(pc.binary_length(data), dtype="<u4")
            prefix = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4), hi - lo, [None, pa.py_buffer(lengths)]
            )
            parts += [prefix.cast(pa.large_binary()), data]
        joined = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.large_binary()))
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=hi - lo + 1)
        digest.update(memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]])
    return digest


def _blocks(rows: SortedRows) -> list[tuple[int, int]]:
    """Row ranges of about 32 MB of vectors: the unit of gathering, writing and hashing
    (and a Parquet row group: one of a million 128-float rows costs ~600 MB to write)."""
    size = max(1, min(_MAX_BLOCK_ROWS, _BLOCK_BYTES // (4 * max(rows.dim, 1))))
    return [(lo, min(lo + size, rows.n_rows)) for lo in range(0, rows.n_rows, size)]


def _raw_bytes(vectors: np.ndarray) -> memoryview:
    """The little-endian float32 bytes of ``vectors``, without a copy when they are already."""
    flat = np.ascontiguousarray(vectors, dtype="<f4").reshape(-1)
    return memoryview(flat.view(np.uint8))


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


class _HashedFile:
    """A file written once, front to back, hashed on the way out (not read back)."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb")
        self.digest = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        for lo in range(0, len(data), _WRITE_BYTES):
            piece = data[lo : lo + _WRITE_BYTES]
            self.fh.write(piece)
            self.digest.update(piece)

    def close(self) -> str:
        self.fh.close()
        return self.digest.hexdigest()


def _npy_header(n_rows: int, dim: int) -> bytes:
    """np.save's header (format 1.0) of an n_rows x dim float32 array."""
    header = io.BytesIO()
    info = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, dim)}
    npformat.write_array_header_1_0(header, info)
    return header.getvalue()


def write_version_files(
    folder: Path,
    table: VectorTable | SortedRows,
    labels: Labels | None,
    holdout: pd.DataFrame | None,
    meta: dict[str, Any],
    inputs: BenchmarkInputs | None = None,
    row_attributes: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Write every file of a version into ``folder``, manifest last; returns the manifest,
    which holds the rows' :func:`content_hash` as ``content_hash``.

    ``table`` is a sorted :class:`VectorTable` or a :class:`SortedRows`. ``inputs`` adds
    the benchmark inputs beyond labels and hold-out (metadata, graph, interactions), so the
    version's benchmarks can be re-run without the sources. ``row_attributes`` (entity,
    key, then one column per attribute) goes into ``row_attributes.parquet`` in row order;
    rows it lacks get nulls.
    """
    rows = table if isinstance(table, SortedRows) else SortedRows.presorted(table)
    sha, content = _write_rows(folder, rows)
    if row_attributes is not None:
        faults.point("publish:write:" + ROW_ATTRIBUTES)
        _write_row_attributes(folder / ROW_ATTRIBUTES, rows, row_attributes)
        sha[ROW_ATTRIBUTES] = sha256_file(folder / ROW_ATTRIBUTES)
    if labels is not None and len(labels.pairs):
        faults.point("publish:write:" + ATTRIBUTES)
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
        sha[ATTRIBUTES] = sha256_file(folder / ATTRIBUTES)
    if holdout is not None and len(holdout):
        faults.point("publish:write:" + HOLDOUT)
        columns = ["src_entity", "src", "dst_entity", "dst"]
        pq.write_table(
            pa.table({c: pa.array(holdout[c].astype(str).tolist(), pa.string()) for c in columns}),
            folder / HOLDOUT,
        )
        sha[HOLDOUT] = sha256_file(folder / HOLDOUT)
    if inputs is not None and any(
        part is not None for part in (inputs.metadata, inputs.graph, inputs.interactions)
    ):
        faults.point("publish:write:inputs")
        written = []
        if inputs.metadata is not None:
            written += stored_inputs.write_metadata(folder, inputs.metadata)
        if inputs.graph is not None:
            written += stored_inputs.write_graph(folder, inputs.graph)
        if inputs.interactions is not None:
            written += stored_inputs.write_interactions(folder, inputs.interactions)
        sha.update({name: sha256_file(folder / name) for name in written})
    faults.point("publish:fsync")
    for name in sha:
        _fsync(folder / name)
    manifest = {
        "format_version": FORMAT_VERSION,
        "n_rows": rows.n_rows,
        "dim": rows.dim,
        "files": {
            name: {"sha256": sha[name], "bytes": (folder / name).stat().st_size} for name in sha
        },
        "content_hash": content,
        **meta,
    }
    faults.point("publish:manifest")
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    _fsync(folder / MANIFEST)
    fsync_dir(folder)
    return manifest


def _write_rows(folder: Path, rows: SortedRows) -> tuple[dict[str, str], str]:
    """``online.keys.arrow``, then ``vectors.parquet`` and ``online.vectors.npy`` side by
    side, one block of rows at a time: each block is gathered once (no sorted copy of the
    table), then written to both files and hashed on two threads (Arrow, file writes and
    hashlib release the GIL) while the next block is gathered. Returns each file's sha256
    and the rows' content hash. Fault points are all reached from the calling thread.
    """
    digest = _hash_keys(rows)
    entity = rows.entities.dictionary_encode()  # first-appearance order, as on a rebuild
    sha = {ONLINE_KEYS: _write_keys(folder, pa.table({"entity": entity, "key": rows.keys}))}
    faults.point("publish:write:" + OFFLINE)
    schema = pa.schema(
        [
            ("entity", entity.type),
            ("key", pa.string()),
            ("vector", pa.list_(pa.float32(), rows.dim)),
        ]
    )
    blocks = _blocks(rows)
    offline = pq.ParquetWriter(
        folder / OFFLINE,
        schema,
        compression="zstd",
        use_dictionary=["entity"],  # keys and floats are unique
        write_statistics=["entity", "key"],
    )
    try:
        faults.point("publish:write:" + ONLINE_VECTORS)
        online = _HashedFile(folder / ONLINE_VECTORS)
        try:
            online.write(_npy_header(rows.n_rows, rows.dim))

            def parquet(lo: int, hi: int, block: np.ndarray) -> None:
                flat = pa.array(block.reshape(-1), type=pa.float32())  # no copy
                vector = pa.FixedSizeListArray.from_arrays(flat, rows.dim)
                batch = pa.record_batch(
                    [entity.slice(lo, hi - lo), rows.keys.slice(lo, hi - lo), vector],
                    schema=schema,
                )
                offline.write_batch(batch, row_group_size=hi - lo)

            def npy(block: np.ndarray) -> None:
                data = _raw_bytes(block)
                online.write(data)
                digest.update(data)

            with ThreadPoolExecutor(2, thread_name_prefix="embank-publish") as pool:
                pending: list[Any] = []
                for lo, hi in blocks:
                    block = np.ascontiguousarray(rows.vectors(lo, hi), dtype=np.float32)
                    for job in pending:
                        job.result()
                    pending = [pool.submit(parquet, lo, hi, block), pool.submit(npy, block)]
                for job in pending:
                    job.result()
        finally:
            sha[ONLINE_VECTORS] = online.close()
    finally:
        offline.close()
    sha[OFFLINE] = sha256_file(folder / OFFLINE)
    return sha, digest.hexdigest()


def _write_row_attributes(path: Path, rows: SortedRows, attributes: pd.DataFrame) -> None:
    """``attributes`` matched to the stored rows by (entity, key), so a row id indexes it
    as it indexes every other file of the version."""
    stored = pd.DataFrame(
        {
            "entity": rows.entities.to_numpy(zero_copy_only=False).astype(str),
            "key": rows.keys.to_numpy(zero_copy_only=False).astype(str),
        }
    )
    given = attributes.astype({"entity": str, "key": str}).drop_duplicates(["entity", "key"])
    merged = stored.merge(given, on=["entity", "key"], how="left", sort=False)
    pq.write_table(pa.Table.from_pandas(merged, preserve_index=False), path)


def read_row_attributes(folder: Path) -> pd.DataFrame | None:
    """The version's per-row attributes (entity, key, ...) in row order, or None."""
    path = folder / ROW_ATTRIBUTES
    return pq.read_table(path).to_pandas() if path.exists() else None


def _write_keys(folder: Path, keys: pa.Table) -> str:
    faults.point("publish:write:" + ONLINE_KEYS)
    with (
        pa.OSFile(str(folder / ONLINE_KEYS), "wb") as sink,
        pa.ipc.new_file(sink, keys.schema) as writer,
    ):
        writer.write_table(keys)
    return sha256_file(folder / ONLINE_KEYS)


def write_online_files(folder: Path, rows: pa.Table, vectors: np.ndarray) -> list[str]:
    """The embedded online store: keys (Arrow IPC) and float32 rows (``.npy``), both read
    memory-mapped; ``rows`` holds the entity and key columns in stored order. Written the
    same way at publish and on a rebuild, so the bytes match."""
    _write_keys(folder, _key_columns(rows))
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    online = _HashedFile(folder / ONLINE_VECTORS)
    try:
        online.write(_npy_header(*matrix.shape))
        online.write(_raw_bytes(matrix))
    finally:
        online.close()
    return [ONLINE_KEYS, ONLINE_VECTORS]


def _key_columns(rows: pa.Table) -> pa.Table:
    """(entity, key) in one record batch, the entity dictionary in order of first
    appearance: the same bytes from the rows being published as from a Parquet file read
    back in row groups."""
    entity = rows.column("entity").combine_chunks()
    if isinstance(entity, pa.DictionaryArray):
        entity = entity.dictionary_decode()
    key = rows.column("key").combine_chunks()
    return pa.table({"entity": entity.dictionary_encode(), "key": key})


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
    key = rows.column("key").combine_chunks()
    table = VectorTable.from_arrow(entity, key, matrix.astype(np.float32, copy=False))
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
