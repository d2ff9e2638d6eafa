"""Batch candidate generation: the top-``k`` targets of every source key, into Parquet.

``embank candidates NAME --from user --to item -k 100`` searches every user (or a listed
set) for its ``k`` best items, through the version's saved index where it has one (hnswlib
and faiss run each batch on all cores, outside the GIL) and by exact search otherwise
(matrix products, split over a thread per core). Sources are taken a chunk at a time and
each chunk's answers are written as one row group (``source, rank, target, score``, rank
1 is best), so memory is bounded by the chunk, not the table.

``exclude`` pairs (source, target) never appear: already-seen items, given as a table of
pairs or read from the version's stored interactions; every source still gets ``k``
targets when it has that many unexcluded candidates (the search fetches more, then
filters). A source is never its own candidate.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from embank.ann.checks import check_k
from embank.ann.search import search_version
from embank.errors import NotFoundError, UsageError, ValidationError
from embank.progress import NullProgress, Progress
from embank.store.inputs import GRAPH, INTERACTIONS

if TYPE_CHECKING:
    from embank.store.embedding import Embedding

__all__ = ["SCHEMA", "CandidatesReport", "candidates", "read_pairs", "stored_pairs"]

SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
    ]
)
DEFAULT_CHUNK = 4096
#: the largest score block of one exact search (queries x target rows x 4 bytes)
_EXACT_BLOCK_BYTES = 256 << 20
_EXACT_BLOCK_ROWS = 65_536  # ExactIndex scores target rows in blocks of this many


@dataclass(frozen=True)
class CandidatesReport:
    """What a candidates run wrote: ``n_sources`` searched, ``n_rows`` written (fewer than
    sources x k only where a source has fewer candidates), keys not in the version."""

    path: str
    table: str
    version: int
    source_entity: str
    target_entity: str
    k: int
    n_sources: int
    n_rows: int
    n_unknown_keys: int
    n_excluded_pairs: int
    index: str
    seconds: float


def candidates(
    embedding: Embedding,
    source_entity: str,
    target_entity: str,
    k: int,
    *,
    out: str | os.PathLike[str],
    keys: list[str] | None = None,
    exclude: pa.Table | None = None,
    chunk: int = DEFAULT_CHUNK,
    n_threads: int | None = None,
    exact: bool = False,
    progress: Progress | None = None,
) -> CandidatesReport:
    """Write the top-``k`` ``target_entity`` rows of each ``source_entity`` key to the
    Parquet file ``out`` (columns :data:`SCHEMA`), in source row order, best first.

    ``keys`` limits the sources (keys not in the version are skipped and counted);
    ``exclude`` is a table with ``source`` and ``target`` columns of pairs to leave out;
    ``chunk`` sources are searched and written at a time, on ``n_threads`` threads (all
    cores by default); ``exact`` ignores the saved index. Raises :class:`NotFoundError`
    for an entity type the table lacks and :class:`ValidationError` for a bad ``k`` or
    ``chunk``.
    """
    start = time.perf_counter()
    k = check_k(k)
    if chunk < 1:
        raise ValidationError(f"chunk must be at least 1 source, got {chunk}")
    source_entity = embedding._entity_of(source_entity)
    target_entity = embedding._entity_of(target_entity)
    progress = progress if progress is not None else NullProgress()
    threads = n_threads or os.cpu_count() or 1
    ranges = embedding.local.entity_ranges
    lo, hi = ranges[source_entity]
    n_unknown = 0
    if keys is None:
        sources = np.arange(lo, hi, dtype=np.int64)
    else:
        found = embedding.rows(keys, source_entity)
        n_unknown = int((found < 0).sum())
        sources = np.unique(found[found >= 0])
    seen = _excluded_rows(embedding, exclude, source_entity, target_entity)
    t_lo, t_hi = ranges[target_entity]
    saved = None if exact else embedding.saved_index()
    ann = saved.ann(target_entity) if saved is not None else None
    if ann is not None:
        ann.set_num_threads(threads)
    else:
        # exact: one chunk's score block stays under _EXACT_BLOCK_BYTES
        block = min(t_hi - t_lo, _EXACT_BLOCK_ROWS)
        chunk = max(1, min(chunk, _EXACT_BLOCK_BYTES // (4 * max(block, 1))))
    key_column = embedding.local.key_columns.column("key")
    matrix = embedding.to_numpy()
    path = Path(out)
    partial = path.with_name(path.name + ".partial")
    about = {
        "table": embedding.name,
        "version": embedding.version,
        "space_id": embedding.space_id,
        "from": source_entity,
        "to": target_entity,
        "k": k,
    }
    meta = {b"embank": json.dumps(about).encode()}
    n_rows = 0
    pending: Future[None] | None = None
    try:
        with (
            pq.ParquetWriter(partial, SCHEMA.with_metadata(meta)) as writer,
            # one chunk is written while the next is searched (Arrow writes outside the
            # GIL); at most one waits, so memory stays at two chunks
            ThreadPoolExecutor(1) as write_pool,
            progress.task(
                f"top-{k} {target_entity} of {len(sources):,} {source_entity} keys",
                total=len(sources),
            ) as task,
        ):
            for c_lo in range(0, len(sources), chunk):
                rows = sources[c_lo : c_lo + chunk]
                queries = np.asarray(matrix[rows], dtype=np.float32)
                skip = [_skip_of(int(r), seen, source_entity == target_entity) for r in rows]
                use = skip if any(skip) else None
                if ann is not None:
                    found, scores = search_version(embedding, queries, k, target_entity, use)
                else:
                    found, scores = _exact_parallel(
                        embedding, queries, k, target_entity, use, threads
                    )
                batch = _batch(rows, found, scores, key_column)
                if pending is not None:
                    pending.result()
                pending = write_pool.submit(writer.write_table, batch)
                n_rows += batch.num_rows
                task.advance(len(rows))
            if pending is not None:
                pending.result()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return CandidatesReport(
        path=str(path),
        table=embedding.name,
        version=embedding.version,
        source_entity=source_entity,
        target_entity=target_entity,
        k=k,
        n_sources=len(sources),
        n_rows=n_rows,
        n_unknown_keys=n_unknown,
        n_excluded_pairs=sum(len(s) for s in seen.values()),
        index=ann.kind if ann is not None else "exact",
        seconds=round(time.perf_counter() - start, 3),
    )


def _exact_parallel(
    embedding: Embedding,
    queries: np.ndarray,
    k: int,
    target: str,
    skip: list[set[int]] | None,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search of one chunk, split over ``n_threads`` threads with one BLAS thread
    each (numpy's products and partitions release the GIL)."""
    parts = np.array_split(np.arange(len(queries)), min(n_threads, len(queries)))

    def one(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        part_skip = [skip[i] for i in ids] if skip is not None else None
        return search_version(embedding, queries[ids], k, target, part_skip, exact=True)

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(len(parts)) as pool:
        answers = list(pool.map(one, parts))
    width = max(a[0].shape[1] for a in answers)
    rows = np.full((len(queries), width), -1, dtype=np.int64)
    scores = np.full((len(queries), width), np.nan, dtype=np.float32)
    for ids, (r, s) in zip(parts, answers, strict=True):
        rows[ids, : r.shape[1]] = r
        scores[ids, : s.shape[1]] = s
    return rows, scores


def _skip_of(row: int, seen: dict[int, set[int]], same_entity: bool) -> set[int]:
    skip = seen.get(row, set())
    return skip | {row} if same_entity else skip


def _batch(
    sources: np.ndarray, found: np.ndarray, scores: np.ndarray, key_column: pa.ChunkedArray
) -> pa.Table:
    hit = found >= 0
    n_per_source = hit.sum(axis=1)
    source_rows = np.repeat(sources, n_per_source)
    ranks = np.cumsum(hit, axis=1, dtype=np.int32)[hit]  # found rows come first: 1..n
    target_rows = found[hit]  # row-major: each source's targets in rank order
    return pa.table(
        {
            "source": key_column.take(pa.array(source_rows)).combine_chunks(),
            "rank": pa.array(ranks, pa.int32()),
            "target": key_column.take(pa.array(target_rows)).combine_chunks(),
            "score": pa.array(scores[hit].astype(np.float32), pa.float32()),
        },
        schema=SCHEMA,
    )


def _excluded_rows(
    embedding: Embedding, pairs: pa.Table | None, source_entity: str, target_entity: str
) -> dict[int, set[int]]:
    """source row -> target rows to leave out; pairs with a key not in the version are
    dropped (nothing to exclude)."""
    if pairs is None or pairs.num_rows == 0:
        return {}
    for column in ("source", "target"):
        if column not in pairs.column_names:
            raise UsageError(
                f"the pairs to exclude need 'source' and 'target' columns; they have "
                f"{', '.join(pairs.column_names)}"
            )
    text = [pc.cast(pairs.column(c), pa.string()).to_pylist() for c in ("source", "target")]
    src = embedding.rows(text[0], source_entity)
    dst = embedding.rows(text[1], target_entity)
    keep = (src >= 0) & (dst >= 0)
    src, dst = src[keep], dst[keep]
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    bounds = np.flatnonzero(np.diff(src)) + 1
    out: dict[int, set[int]] = {}
    for s_part, d_part in zip(np.split(src, bounds), np.split(dst, bounds), strict=True):
        if len(s_part):
            out[int(s_part[0])] = set(d_part.tolist())
    return out


def read_pairs(path: str | os.PathLike[str]) -> pa.Table:
    """(source, target) pairs from a Parquet, CSV or TSV file: the columns ``source`` and
    ``target``, else the first two. Raises :class:`NotFoundError` for a missing file."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no file {path}: give a Parquet or CSV of (source, target) pairs")
    if path.suffix == ".parquet":
        table = pq.read_table(path)
    else:
        delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={"source": pa.string(), "target": pa.string()}
            ),
        )
    if not {"source", "target"} <= set(table.column_names):
        if table.num_columns < 2:
            raise UsageError(f"{path} needs two columns, source and target")
        table = table.select([0, 1]).rename_columns(["source", "target"])
    return table.select(["source", "target"])


def stored_pairs(embedding: Embedding, source_entity: str, target_entity: str) -> pa.Table:
    """The (source, target) pairs the version was fitted on: its stored interactions (or,
    for one entity type, its graph). Raises :class:`NotFoundError` when it stores neither."""
    folder = embedding.folder
    if (folder / INTERACTIONS).exists():
        table = pq.read_table(
            folder / INTERACTIONS, columns=["src_entity", "src", "dst_entity", "dst"]
        )
        mask = pc.and_(
            pc.equal(pc.cast(table.column("src_entity"), pa.string()), source_entity),
            pc.equal(pc.cast(table.column("dst_entity"), pa.string()), target_entity),
        )
        table = table.filter(mask)
    elif (folder / GRAPH).exists() and source_entity == target_entity:
        table = pq.read_table(folder / GRAPH, columns=["entity", "src", "dst"])
        table = table.filter(pc.equal(pc.cast(table.column("entity"), pa.string()), source_entity))
    else:
        raise NotFoundError(
            f"{embedding.name}@{embedding.version} stores no interactions from {source_entity} "
            f"to {target_entity}: pass --exclude-seen FILE with (source, target) pairs"
        )
    table = table.filter(
        pc.and_(pc.is_valid(table.column("src")), pc.is_valid(table.column("dst")))
    )
    return pa.table(
        {
            "source": pc.cast(table.column("src"), pa.string()),
            "target": pc.cast(table.column("dst"), pa.string()),
        }
    )
