"""The binary answers of a lookup and the Arrow upload of a publish (docs/http.md).

This module needs numpy and pyarrow only, so a consumer can decode answers with it
without the server's extra: ``meta, vectors = decode_raw(response.content)``.

- ``application/vnd.apache.arrow.stream``: one Arrow IPC stream with columns ``key``
  (utf8), ``entity`` (utf8) and ``vector`` (FixedSizeList<float32>[dim], null where a
  key is not in the version); schema metadata ``embank.table``, ``embank.version``,
  ``embank.space_id``.
- ``application/octet-stream``: ``uint32`` little-endian length ``n`` of a JSON preamble,
  the preamble (UTF-8 JSON: table, version, space_id, entity, dim, keys, found; padded with
  spaces so that the vectors start at a multiple of 8 bytes), then ``len(keys) x dim``
  float32 little-endian, row-major, in the order of ``keys``; NaN rows where ``found`` is
  false.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from embank.errors import ValidationError
from embank.vector_table import VectorTable

__all__ = [
    "ARROW_STREAM",
    "JSON",
    "OCTET_STREAM",
    "choose_format",
    "decode_arrow",
    "decode_raw",
    "encode_arrow",
    "encode_raw",
    "read_upload",
]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
OCTET_STREAM = "application/octet-stream"
JSON = "application/json"
_PREAMBLE_LENGTH = struct.Struct("<I")
_ALIGN = 8


def choose_format(accept: str | None) -> str:
    """The answer's media type for an ``Accept`` header: Arrow or raw float32 when asked
    for by name (the first of the two listed wins), JSON otherwise."""
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in (ARROW_STREAM, OCTET_STREAM):
            return media
    return JSON


def encode_arrow(meta: dict[str, Any], vectors: np.ndarray, found: np.ndarray) -> bytes:
    """An Arrow IPC stream of ``meta["keys"]``, their entity and vectors (null: not found)."""
    n_rows, dim = vectors.shape
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(flat, dim)
    if not found.all():  # null rows; from_buffers, as from_arrays(mask=) needs pyarrow 17
        validity = pa.array(found, pa.bool_()).buffers()[1]
        column = pa.Array.from_buffers(column.type, n_rows, [validity], children=[flat])
    schema = pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("entity", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ],
        metadata={
            "embank.table": meta["table"],
            "embank.version": str(meta["version"]),
            "embank.space_id": meta["space_id"],
        },
    )
    batch = pa.record_batch(
        [pa.array(meta["keys"], pa.string()), pa.array([meta["entity"]] * n_rows), column],
        schema=schema,
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def decode_arrow(data: bytes) -> tuple[dict[str, str], pa.Table]:
    """The schema metadata and table of an Arrow lookup answer."""
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return meta, table


def encode_raw(meta: dict[str, Any], vectors: np.ndarray, found: np.ndarray) -> bytes:
    """Preamble length, JSON preamble, then the float32 rows (NaN where not found)."""
    preamble = json.dumps({**meta, "found": found.tolist()}, separators=(",", ":")).encode()
    pad = -(_PREAMBLE_LENGTH.size + len(preamble)) % _ALIGN
    preamble += b" " * pad
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    if not found.all():
        rows = rows.copy()
        rows[~found] = np.nan
    return _PREAMBLE_LENGTH.pack(len(preamble)) + preamble + rows.tobytes()


def decode_raw(data: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """The preamble and the ``len(keys) x dim`` float32 matrix of a raw lookup answer."""
    (length,) = _PREAMBLE_LENGTH.unpack_from(data)
    start = _PREAMBLE_LENGTH.size + length
    meta = json.loads(data[_PREAMBLE_LENGTH.size : start])
    vectors = np.frombuffer(data, dtype="<f4", offset=start).reshape(len(meta["keys"]), meta["dim"])
    return meta, vectors


def read_upload(path: Path, entity: str | None = None) -> VectorTable:
    """The rows of an uploaded Arrow IPC stream: ``key`` (text or integers), ``vector``
    (fixed- or variable-size lists of floats, all of one length) and ``entity`` (text),
    which may be left out when ``entity`` names the one entity type of every row.

    Raises :class:`ValidationError` for anything else; nothing is published then.
    """
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise ValidationError(f"the upload is not an Arrow IPC stream: {exc}") from None
    if table.num_rows == 0:
        raise ValidationError("nothing to publish: the upload has no rows")
    names = set(table.column_names)
    missing = {"key", "vector"} - names
    if missing:
        raise ValidationError(
            f"the upload lacks column(s) {sorted(missing)}: send entity, key, vector "
            f"(it has {sorted(names)})"
        )
    keys = _key_column(table.column("key"))
    vectors = _vector_column(table.column("vector"), table.num_rows)
    if "entity" in names:
        entities = _text_column(table.column("entity"), "entity")
    elif entity is not None:
        entities = np.full(table.num_rows, entity, dtype=object)
    else:
        raise ValidationError("the upload has no entity column: add one, or pass ?entity=NAME")
    return VectorTable(entities, keys, vectors)


def _key_column(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_integer(column.type):
        column = column.cast(pa.string())
    return _text_column(column, "key")


def _text_column(column: pa.ChunkedArray, name: str) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise ValidationError(f"column {name!r} is {column.type}, not text")
    if column.null_count:
        raise ValidationError(f"column {name!r} holds {column.null_count} null(s)")
    return np.asarray(column.to_pylist(), dtype=object)


def _vector_column(column: pa.ChunkedArray, n_rows: int) -> np.ndarray:
    kind = column.type
    if not (
        pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    ) or not pa.types.is_floating(kind.value_type):
        raise ValidationError(
            f"column 'vector' is {kind}: send FixedSizeList<float32> (or lists of floats)"
        )
    if column.null_count:
        raise ValidationError(f"column 'vector' holds {column.null_count} null row(s)")
    array = column.combine_chunks()
    if pa.types.is_fixed_size_list(kind):
        dim = kind.list_size
    else:
        lengths = np.unique(array.value_lengths().to_numpy(zero_copy_only=False))
        if len(lengths) > 1:
            raise ValidationError(
                f"vectors of several lengths ({', '.join(map(str, lengths[:5]))}): "
                "every vector needs the table's dimension"
            )
        dim = int(lengths[0]) if len(lengths) else 0
    values = array.flatten()
    if values.null_count:
        raise ValidationError(f"column 'vector' holds {values.null_count} null value(s)")
    flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if dim == 0 or flat.size != n_rows * dim:
        raise ValidationError("vectors need at least one dimension")
    return flat.reshape(n_rows, dim)
