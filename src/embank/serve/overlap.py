"""How much two versions of one table agree on neighbours: for a seeded sample of keys in
both, how many of each key's top-k neighbours (exact search) are the same in the other.

Neighbours are compared as (entity, key) pairs, so the two versions need not share a
space: a refit that rotates every vector but keeps who is near whom scores k of k.
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from embank.ann.exact import ExactIndex
from embank.errors import UsageError
from embank.store.embedding import Embedding

__all__ = ["NeighbourOverlap", "neighbour_overlap"]

N_KEYS = 500
K = 10


class NeighbourOverlap(BaseModel):
    """Top-k neighbours kept from version ``a`` to version ``b``."""

    model_config = ConfigDict(frozen=True)

    table: str = Field(description="Table name.")
    a: int = Field(description="The version compared from.")
    b: int = Field(description="The version compared to.")
    k: int = Field(description="Neighbours per key.")
    seed: int = Field(description="Seed of the key sample.")
    n_sampled: int = Field(description="Keys drawn from version a.")
    n_keys: int = Field(description="Sampled keys also in version b: the keys compared.")
    mean: float | None = Field(description="Mean of the neighbours kept per key (0..k).")
    mean_fraction: float | None = Field(description="mean / k.")
    histogram: list[int] = Field(description="Keys that kept 0, 1, ..., k neighbours.")
    run_time_s: float = Field(description="Seconds the comparison took.")


def neighbour_overlap(
    a: Embedding, b: Embedding, k: int = K, n_keys: int = N_KEYS, seed: int = 0
) -> NeighbourOverlap:
    """Compare the top-``k`` neighbours (all entity types, the table's metric, exact) of up
    to ``n_keys`` keys of ``a`` drawn with ``seed`` that ``b`` holds too.

    Raises :class:`UsageError` when ``a`` and ``b`` are not versions of one table.
    """
    if a.name != b.name:
        raise UsageError(
            f"neighbour overlap compares versions of one table, not {a.name} and {b.name}"
        )
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_draw = min(n_keys, a.n_rows)
    rows_a = np.sort(rng.choice(a.n_rows, size=n_draw, replace=False))
    keys_a, entities_a = a.keys, a.entities
    keys_b, entities_b = b.keys, b.entities
    shared: list[tuple[int, int]] = []
    for entity in sorted(set(entities_a[rows_a])):
        mine = [int(r) for r in rows_a if entities_a[r] == entity]
        theirs = b.rows([keys_a[r] for r in mine], entity)
        shared += [(ra, int(rb)) for ra, rb in zip(mine, theirs, strict=True) if rb >= 0]
    shared.sort()
    histogram = [0] * (k + 1)
    if shared:
        near_a = _top(a, np.asarray([r for r, _ in shared]), k)
        near_b = _top(b, np.asarray([r for _, r in shared]), k)
        for row_a, row_b in zip(near_a, near_b, strict=True):
            kept = {(entities_a[r], keys_a[r]) for r in row_a if r >= 0} & {
                (entities_b[r], keys_b[r]) for r in row_b if r >= 0
            }
            histogram[min(len(kept), k)] += 1
    n_compared = len(shared)
    mean = sum(i * n for i, n in enumerate(histogram)) / n_compared if n_compared else None
    return NeighbourOverlap(
        table=a.name,
        a=a.version,
        b=b.version,
        k=k,
        seed=seed,
        n_sampled=n_draw,
        n_keys=n_compared,
        mean=mean,
        mean_fraction=None if mean is None else mean / k,
        histogram=histogram,
        run_time_s=round(time.perf_counter() - start, 3),
    )


def _top(embedding: Embedding, rows: np.ndarray, k: int) -> np.ndarray:
    """Each row's top-k rows (not itself), exact, over every entity type."""
    matrix = embedding.to_numpy()
    index = ExactIndex(matrix, embedding.metric)
    queries = np.asarray(matrix[rows], dtype=np.float32)
    found, _ = index.search(queries, k, exclude=[{int(r)} for r in rows])
    return found
