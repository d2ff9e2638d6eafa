"""What a version's benchmarks read, stored beside its vectors so a re-run needs no source.

A fit's benchmark inputs (:class:`~embank.benchmarks.base.BenchmarkInputs`) are copied into
the version folder at publish, one open Parquet file each:

- ``attributes.parquet``: labels, (entity, key, label); ``holdout.parquet``: held-out pairs
  (src_entity, src, dst_entity, dst). Both written by :mod:`embank.store.files`.
- ``metadata.parquet``: the metadata frame as selection left it (``key`` then one column
  each, categorical text or numbers); the entity type is in the file's key-value metadata,
  so no metadata column can clash with it.
- ``graph.parquet``: (entity, src, dst, weight, directed), one row per stored entry of the
  adjacency (an undirected edge is two rows, as the fit saw it), in CSR order.
- ``interactions.parquet``: (src_entity, src, dst_entity, dst, weight), one row per pair of
  the training matrix, in CSR order.
- ``sequences.parquet``: (sequence, dst) when the interactions had times or sessions: each
  sequence's items in order.

A key with no stored pair (an isolated node, or an item whose only pairs were held out) is
a row whose other end is null, so the key lists come back exactly. Keys are re-sorted
bytewise on reading, which is the order selection gave them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from embank.data.attributes import Metadata
from embank.data.graph import Graph
from embank.data.interactions import Interactions
from embank.errors import StorageError

__all__ = [
    "GRAPH",
    "INTERACTIONS",
    "METADATA",
    "SEQUENCES",
    "read_graph",
    "read_interactions",
    "read_metadata",
    "write_graph",
    "write_interactions",
    "write_metadata",
]

GRAPH = "graph.parquet"
INTERACTIONS = "interactions.parquet"
SEQUENCES = "sequences.parquet"
METADATA = "metadata.parquet"
_META_KEY = b"embank"


# -- graph ----------------------------------------------------------------------------


def write_graph(folder: Path, graph: Graph) -> list[str]:
    """Write ``graph.parquet``; returns the names written."""
    adjacency = graph.adjacency.tocsr()
    n = graph.n_nodes
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(adjacency.indptr))
    cols = adjacency.indices.astype(np.int64)
    weights = adjacency.data.astype(np.float64)
    isolated = _isolated(n, rows, cols)
    src = np.concatenate((rows, isolated))
    dst = np.concatenate((cols, np.full(len(isolated), -1)))
    weight = _with_nulls(weights, len(isolated))
    keys = pa.array(graph.index_to_key.tolist(), type=pa.string())
    n_rows = len(src)
    table = pa.table(
        {
            "entity": _constant(graph.entity, n_rows),
            "src": pa.DictionaryArray.from_arrays(_nullable_ids(src), keys),
            "dst": pa.DictionaryArray.from_arrays(_nullable_ids(dst), keys),
            "weight": weight,
            "directed": pa.array(np.full(n_rows, graph.directed), pa.bool_()),
        }
    )
    _write(table, folder / GRAPH, {"entity": graph.entity, "directed": graph.directed})
    return [GRAPH]


def read_graph(folder: Path) -> Graph | None:
    path = folder / GRAPH
    if not path.exists():
        return None
    table = pq.read_table(path)
    meta = _meta(table, path)
    src, dst = _text(table, "src"), _text(table, "dst")
    keys = _sorted_keys(src, dst)
    present = pc.is_valid(dst).to_numpy(zero_copy_only=False)
    rows = _ids(src, keys)[present]
    cols = _ids(dst, keys)[present]
    weight = pc.fill_null(table.column("weight"), 0.0).to_numpy()[present].astype(np.float64)
    n = len(keys)
    adjacency = _csr(weight, rows, cols, (n, n))
    return Graph(
        entity=str(meta["entity"]),
        index_to_key=np.asarray(keys.to_pylist(), dtype=object),
        adjacency=adjacency,
        directed=bool(meta["directed"]),
    )


# -- interactions -----------------------------------------------------------------------


def write_interactions(folder: Path, interactions: Interactions) -> list[str]:
    """Write ``interactions.parquet`` (and ``sequences.parquet``); returns the names."""
    matrix = interactions.matrix.tocsr()
    rows = np.repeat(np.arange(interactions.n_src, dtype=np.int64), np.diff(matrix.indptr))
    cols = matrix.indices.astype(np.int64)
    lone_src = np.setdiff1d(np.arange(interactions.n_src), rows)
    lone_dst = np.setdiff1d(np.arange(interactions.n_dst), cols)
    n_pairs = len(rows)
    src = np.concatenate((rows, lone_src, np.full(len(lone_dst), -1)))
    dst = np.concatenate((cols, np.full(len(lone_src), -1), lone_dst))
    weight = _with_nulls(matrix.data.astype(np.float64), len(lone_src) + len(lone_dst))
    n_rows = len(src)
    src_keys = pa.array(interactions.src_keys.tolist(), type=pa.string())
    dst_keys = pa.array(interactions.dst_keys.tolist(), type=pa.string())
    table = pa.table(
        {
            "src_entity": _constant(interactions.src_entity, n_rows),
            "src": pa.DictionaryArray.from_arrays(_nullable_ids(src), src_keys),
            "dst_entity": _constant(interactions.dst_entity, n_rows),
            "dst": pa.DictionaryArray.from_arrays(_nullable_ids(dst), dst_keys),
            "weight": weight,
        }
    )
    meta = {
        "src_entity": interactions.src_entity,
        "dst_entity": interactions.dst_entity,
        "n_pairs": n_pairs,
    }
    _write(table, folder / INTERACTIONS, meta)
    written = [INTERACTIONS]
    if interactions.sequences:
        lengths = [len(s) for s in interactions.sequences]
        items = np.concatenate(interactions.sequences).astype(np.int64)
        sequences = pa.table(
            {
                "sequence": pa.array(np.repeat(np.arange(len(lengths)), lengths), pa.int64()),
                "dst": pa.DictionaryArray.from_arrays(pa.array(items, pa.int64()), dst_keys),
            }
        )
        _write(sequences, folder / SEQUENCES, {"n_sequences": len(lengths)})
        written.append(SEQUENCES)
    return written


def read_interactions(folder: Path) -> Interactions | None:
    path = folder / INTERACTIONS
    if not path.exists():
        return None
    table = pq.read_table(path)
    meta = _meta(table, path)
    src, dst = _text(table, "src"), _text(table, "dst")
    src_keys, dst_keys = _sorted_keys(src), _sorted_keys(dst)
    pair = (pc.is_valid(src).to_numpy(zero_copy_only=False)) & (
        pc.is_valid(dst).to_numpy(zero_copy_only=False)
    )
    rows = _ids(src, src_keys)[pair]
    cols = _ids(dst, dst_keys)[pair]
    weight = pc.fill_null(table.column("weight"), 0.0).to_numpy()[pair].astype(np.float64)
    matrix = _csr(weight, rows, cols, (len(src_keys), len(dst_keys)))
    sequences: list[np.ndarray] = []
    if (folder / SEQUENCES).exists():
        stored = pq.read_table(folder / SEQUENCES)
        ids = _ids(_text(stored, "dst"), dst_keys)
        number = stored.column("sequence").to_numpy()
        n_sequences = int(_meta(stored, folder / SEQUENCES)["n_sequences"])
        ends = np.cumsum(np.bincount(number, minlength=n_sequences))
        sequences = [part.copy() for part in np.split(ids, ends[:-1])]
    return Interactions(
        src_entity=str(meta["src_entity"]),
        dst_entity=str(meta["dst_entity"]),
        src_keys=np.asarray(src_keys.to_pylist(), dtype=object),
        dst_keys=np.asarray(dst_keys.to_pylist(), dtype=object),
        matrix=matrix,
        sequences=sequences,
    )


# -- metadata ---------------------------------------------------------------------------


def write_metadata(folder: Path, metadata: Metadata) -> list[str]:
    """Write ``metadata.parquet``; returns the names written."""
    frame = metadata.frame.reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _write(table, folder / METADATA, {"entity": metadata.entity})
    return [METADATA]


def read_metadata(folder: Path) -> Metadata | None:
    path = folder / METADATA
    if not path.exists():
        return None
    table = pq.read_table(path)
    meta = _meta(table, path)
    frame = table.to_pandas()
    return Metadata(entity=str(meta["entity"]), frame=frame.reset_index(drop=True))


# -- helpers ----------------------------------------------------------------------------


def _write(table: pa.Table, path: Path, meta: dict[str, object]) -> None:
    existing = table.schema.metadata or {}
    schema = table.schema.with_metadata({**existing, _META_KEY: json.dumps(meta).encode()})
    pq.write_table(table.replace_schema_metadata(schema.metadata), path, compression="zstd")


def _meta(table: pa.Table, path: Path) -> dict[str, object]:
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise StorageError(f"{path} has no embank metadata: the version folder is damaged")
    return json.loads(raw)


def _constant(value: str, n_rows: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n_rows, dtype=np.int32)), pa.array([value], pa.string())
    )


def _isolated(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    seen = np.zeros(n, dtype=bool)
    seen[rows] = True
    seen[cols] = True
    return np.flatnonzero(~seen).astype(np.int64)


def _with_nulls(values: np.ndarray, n_nulls: int) -> pa.Array:
    """``values`` (float64) then ``n_nulls`` nulls."""
    mask = np.concatenate((np.zeros(len(values), bool), np.ones(n_nulls, bool)))
    padded = np.concatenate((values, np.zeros(n_nulls))).astype(np.float64)
    return pa.array(padded, pa.float64(), mask=mask if n_nulls else None)


def _nullable_ids(ids: np.ndarray) -> pa.Array:
    """Dictionary indices, -1 as null."""
    return pa.array(np.where(ids < 0, 0, ids), pa.int64(), mask=ids < 0)


def _text(table: pa.Table, column: str) -> pa.Array:
    """A key column as plain strings (dictionary-encoded on disk)."""
    return pc.cast(table.column(column), pa.string()).combine_chunks()


def _sorted_keys(*columns: pa.Array) -> pa.Array:
    """The distinct non-null keys of ``columns``, sorted bytewise (Arrow's string order)."""
    values = pa.concat_arrays([c.drop_null() for c in columns])
    distinct = pc.unique(values)
    return distinct.take(pc.sort_indices(distinct))


def _ids(column: pa.Array, keys: pa.Array) -> np.ndarray:
    """Each value's position in ``keys`` (-1 for null)."""
    found = pc.index_in(column, value_set=keys).fill_null(-1)
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def _csr(
    weight: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR of the entries as stored (explicit zeros kept), in their order within a row."""
    if len(rows) > 1 and (np.diff(rows) < 0).any():
        order = np.argsort(rows, kind="stable")
        weight, rows, cols = weight[order], rows[order], cols[order]
    n_rows = shape[0]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    index_dtype = np.int32 if max(shape[1], len(cols)) < np.iinfo(np.int32).max else np.int64
    indices, indptr = cols.astype(index_dtype), indptr.astype(index_dtype)
    return sp.csr_matrix((weight, indices, indptr), shape=shape)
