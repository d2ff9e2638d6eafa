"""Drift figures between a previous version and a new one of the same table.

One call, :func:`drift`, measures how far the new version moved, as flat figures named
``drift.<measure>[.<part>].<statistic>`` so gates can name them
(``drift.overlap_at_10.median >= 0.8 * seed_floor``):

- ``drift.coverage.{kept,added,dropped,kept_fraction}`` and
  ``drift.coverage.<entity>.{kept,added,dropped}``: keys by (entity, key);
- ``drift.overlap_at_<k>.{median,p10,mean,n_queries}``: for a seeded sample of shared
  keys, the share of a key's ``k`` nearest neighbours (exact search among the shared keys
  of its entity, by ``metric``) that the two versions have in common; with ``support``,
  also ``drift.overlap_at_<k>.support_<lo>_<hi>.{median,n}`` per support bucket;
- ``drift.cosine_distance.{median,p90,p99,mean}``: ``1 - cos`` between each shared key's
  previous vector and its new vector after rotating the new version onto the previous one
  (so an already aligned version and an unaligned one read the same);
- ``drift.procrustes_residual``: ``||X R - Y||_F / ||Y||_F`` of that rotation over the
  keys it was fitted on, and ``drift.procrustes_residual_unaligned`` the same with
  ``R = I`` (near the first when the new version is already aligned);
- ``drift.eigenspace_overlap``: ``||U_prev^T U_new||_F^2 / rank`` for orthonormal bases of
  the two versions' shared rows, 1 when they span the same space: a measure that needs no
  alignment at all (it ignores any invertible linear map, not only rotations).

Neighbour overlap and cosine distance are what a consumer feels; read them against the
*seed floor* (:func:`embank.refresh.seed_floor.seed_floor`): the same figures between two
cold fits with different seeds, i.e. how much the algorithm moves by chance alone.

Memory stays bounded: the neighbour search is chunked and the other figures are
accumulated in float64 over chunks of rows, so 1,000,000 x 128 tables are measured with a
sample of 2,000 query keys.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embank.errors import ValidationError
from embank.refresh.align import DEFAULT_MIN_SUPPORT, fit_alignment
from embank.refresh.keys import SharedRows, Support, shared_rows, support_array
from embank.refresh.neighbors import top_k
from embank.vector_table import VectorTable

__all__ = ["DEFAULT_SUPPORT_BUCKETS", "DriftReport", "drift", "eigenspace_overlap"]

#: Lower edges of the support buckets after [0, 1): [1, 5), [5, 50), [50, inf).
DEFAULT_SUPPORT_BUCKETS = (1, 5, 50)
_CHUNK_ROWS = 1 << 16

Figure = float | int | None


@dataclass(frozen=True)
class DriftReport:
    """Drift figures (flat names, see the module docstring), how they were measured, and
    how long each part took. JSON-ready through :meth:`to_dict`."""

    figures: dict[str, Figure]
    settings: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Figure:
        """The figure ``name``; raises KeyError listing the known names."""
        try:
            return self.figures[name]
        except KeyError:
            known = ", ".join(self.figures)
            raise KeyError(f"no drift figure {name!r}; figures: {known}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "figures": dict(self.figures),
            "settings": dict(self.settings),
            "timings_s": dict(self.timings_s),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        return cls(
            dict(data["figures"]),
            dict(data.get("settings", {})),
            dict(data.get("timings_s", {})),
        )


def drift(
    previous: VectorTable,
    new: VectorTable,
    support: Support | None = None,
    *,
    k: int = 10,
    n_queries: int = 2000,
    seed: int = 0,
    metric: str = "cosine",
    min_support: float = DEFAULT_MIN_SUPPORT,
    support_buckets: Sequence[float] = DEFAULT_SUPPORT_BUCKETS,
) -> DriftReport:
    """Drift figures of ``new`` against ``previous`` (aligned or not); see the module.

    ``support`` gives each key of ``new`` its edge or interaction count (per row of
    ``new``, or a mapping; :func:`~embank.refresh.keys.support_from_dataset` computes
    it): it picks the keys the rotation is fitted on (``min_support``, as
    :func:`~embank.refresh.align.align` does) and the buckets of the overlap figures.
    ``n_queries`` shared keys, drawn with ``seed``, are searched for their ``k``
    neighbours by ``metric`` (``cosine`` or ``dot``). Raises :class:`ValidationError`
    when the dimensions differ or an argument is out of range.
    """
    if metric not in ("cosine", "dot"):
        raise ValidationError(f"metric must be cosine or dot, not {metric!r}")
    if k < 1 or n_queries < 1:
        raise ValidationError(f"k ({k}) and n_queries ({n_queries}) must be at least 1")
    if new.dim != previous.dim:
        raise ValidationError(
            f"cannot compare a dim {new.dim} table with a dim {previous.dim} one: a table's "
            "dim is fixed by its first version"
        )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    shared = shared_rows(previous, new)
    figures: dict[str, Figure] = _coverage_figures(shared, previous)
    values = support_array(support, new)
    timings["keys"] = time.perf_counter() - start
    settings: dict[str, Any] = {
        "k": k,
        "n_queries": n_queries,
        "seed": seed,
        "metric": metric,
        "min_support": None if values is None else float(min_support),
        "support_buckets": None if values is None else [float(b) for b in support_buckets],
    }
    if shared.n_shared == 0:
        return DriftReport(figures, settings, timings)

    start = time.perf_counter()
    overlap, query_rows = _neighbour_overlap(previous, new, shared, k, n_queries, seed, metric)
    figures.update(_overlap_figures(overlap, k, query_rows, values, support_buckets))
    timings["overlap"] = time.perf_counter() - start

    start = time.perf_counter()
    alignment = fit_alignment(new, previous, values, min_support, shared=shared)
    distances = _aligned_cosine_distances(previous, new, shared, alignment.rotation)
    figures.update(
        {
            "drift.cosine_distance.median": float(np.median(distances)),
            "drift.cosine_distance.p90": float(np.quantile(distances, 0.9)),
            "drift.cosine_distance.p99": float(np.quantile(distances, 0.99)),
            "drift.cosine_distance.mean": float(distances.mean()),
            "drift.procrustes_residual": alignment.residual_after,
            "drift.procrustes_residual_unaligned": alignment.residual_before,
        }
    )
    settings.update(n_keys_aligned=alignment.n_keys, alignment_fallback=alignment.fallback)
    timings["alignment"] = time.perf_counter() - start

    start = time.perf_counter()
    figures["drift.eigenspace_overlap"] = eigenspace_overlap(
        previous.vectors, new.vectors, shared.previous, shared.new
    )
    timings["eigenspace"] = time.perf_counter() - start
    return DriftReport(figures, settings, timings)


def eigenspace_overlap(
    previous: np.ndarray,
    new: np.ndarray,
    previous_rows: np.ndarray | None = None,
    new_rows: np.ndarray | None = None,
) -> float:
    """``||U_prev^T U_new||_F^2 / rank`` over the given rows (all rows by default).

    ``U`` is an orthonormal basis of a matrix's column space; the figure is 1 when both
    span one space (whatever invertible map relates them) and about ``dim / n`` for
    unrelated ones. ``rank`` is the larger of the two ranks. Computed from dim x dim Gram
    matrices accumulated over chunks of rows, without an n x dim float64 copy.
    """
    previous_rows = np.arange(len(previous)) if previous_rows is None else previous_rows
    new_rows = np.arange(len(new)) if new_rows is None else new_rows
    dim_x, dim_z = previous.shape[1], new.shape[1]
    gram_x = np.zeros((dim_x, dim_x))
    gram_z = np.zeros((dim_z, dim_z))
    cross = np.zeros((dim_x, dim_z))
    for lo in range(0, len(new_rows), _CHUNK_ROWS):
        x = previous[previous_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        z = new[new_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        gram_x += x.T @ x
        gram_z += z.T @ z
        cross += x.T @ z
    inv_x, rank_x = _pseudo_inverse(gram_x)
    inv_z, rank_z = _pseudo_inverse(gram_z)
    rank = max(rank_x, rank_z)
    if rank == 0:
        return 1.0 if rank_x == rank_z else 0.0
    value = float(np.trace(inv_x @ cross @ inv_z @ cross.T) / rank)
    return min(max(value, 0.0), 1.0)  # rounding may step just outside


def _coverage_figures(shared: SharedRows, previous: VectorTable) -> dict[str, Figure]:
    totals = {"kept": 0, "added": 0, "dropped": 0}
    figures: dict[str, Figure] = {}
    for entity, counts in shared.coverage.items():
        for name, value in counts.items():
            totals[name] += value
            figures[f"drift.coverage.{entity}.{name}"] = value
    kept_fraction = totals["kept"] / previous.n_rows if previous.n_rows else None
    return {
        "drift.coverage.kept": totals["kept"],
        "drift.coverage.added": totals["added"],
        "drift.coverage.dropped": totals["dropped"],
        "drift.coverage.kept_fraction": kept_fraction,
        **figures,
    }


def _neighbour_overlap(
    previous: VectorTable,
    new: VectorTable,
    shared: SharedRows,
    k: int,
    n_queries: int,
    seed: int,
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Overlap@k of a seeded sample of shared keys; returns it and their new rows."""
    rng = np.random.default_rng(seed)
    n_sample = min(n_queries, shared.n_shared)
    sample = np.sort(rng.choice(shared.n_shared, size=n_sample, replace=False))
    entities = new.entities[shared.new]
    overlaps, rows = [], []
    for entity in np.unique(entities[sample]):
        members = np.flatnonzero(entities == entity)  # positions in the shared list
        queries = np.searchsorted(members, sample[entities[sample] == entity])
        if len(members) < 2:
            continue  # a key alone in its entity has no neighbour
        old = top_k(previous.vectors, shared.previous[members], queries, k, metric)
        now = top_k(new.vectors, shared.new[members], queries, k, metric)
        common = (old[:, :, None] == now[:, None, :]).any(axis=2).sum(axis=1)
        overlaps.append(common / old.shape[1])
        rows.append(shared.new[members[queries]])
    if not overlaps:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(overlaps), np.concatenate(rows)


def _overlap_figures(
    overlap: np.ndarray,
    k: int,
    query_rows: np.ndarray,
    support: np.ndarray | None,
    buckets: Sequence[float],
) -> dict[str, Figure]:
    name = f"drift.overlap_at_{k}"
    figures: dict[str, Figure] = {
        f"{name}.median": _stat(overlap, np.median),
        f"{name}.p10": _stat(overlap, lambda a: np.quantile(a, 0.1)),
        f"{name}.mean": _stat(overlap, np.mean),
        f"{name}.n_queries": len(overlap),
    }
    if support is None:
        return figures
    query_support = support[query_rows]
    edges = [0.0, *sorted(float(b) for b in buckets if b > 0), math.inf]
    for lo, hi in itertools.pairwise(edges):
        inside = overlap[(query_support >= lo) & (query_support < hi)]
        bucket = f"{name}.support_{_edge(lo)}_{_edge(hi)}"
        figures[f"{bucket}.median"] = _stat(inside, np.median)
        figures[f"{bucket}.n"] = len(inside)
    return figures


def _aligned_cosine_distances(
    previous: VectorTable, new: VectorTable, shared: SharedRows, rotation: np.ndarray
) -> np.ndarray:
    """``1 - cos(previous, new @ rotation)`` per shared key (0 when both are zero)."""
    out = np.empty(shared.n_shared, dtype=np.float64)
    for lo in range(0, shared.n_shared, _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, shared.n_shared)
        x = new.vectors[shared.new[lo:hi]].astype(np.float64) @ rotation
        y = previous.vectors[shared.previous[lo:hi]].astype(np.float64)
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
        dots = np.einsum("ij,ij->i", x, y)
        cosine = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        both_zero = ~x.any(axis=1) & ~y.any(axis=1)
        out[lo:hi] = np.where(both_zero, 0.0, 1.0 - np.clip(cosine, -1.0, 1.0))
    return out


def _pseudo_inverse(gram: np.ndarray) -> tuple[np.ndarray, int]:
    values, vectors = np.linalg.eigh(gram)
    keep = values > 1e-10 * max(float(values.max(initial=0.0)), 0.0)
    inverse = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return inverse, int(keep.sum())


def _stat(values: np.ndarray, fn: Any) -> float | None:
    return float(fn(values)) if len(values) else None


def _edge(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}".replace(".", "_")
