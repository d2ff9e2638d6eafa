"""The seed floor: how far a stochastic algorithm moves between two seeds on one data set.

Drift figures mean little alone: node2vec refitted cold with another seed moves a lot
on unchanged data. The seed floor is the same :class:`~embank.refresh.drift.DriftReport`
between two cold fits that differ only in the seed, measured once per spec, so a
refresh's drift can be read (and gated) against it: ``drift.overlap_at_10.median >=
0.8 * seed_floor``. A deterministic algorithm with one fixed seed has a floor of no
drift at all; its floor still says how much a seed change alone would move it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from embank.algorithms.base import Algorithm, algorithms
from embank.data.graph import Dataset
from embank.errors import ValidationError
from embank.refresh.drift import DriftReport, drift
from embank.refresh.keys import Support, support_from_dataset
from embank.vector_table import VectorTable

__all__ = ["FitFn", "fit_fn", "seed_floor"]

#: Fits ``dataset`` with ``seed`` and returns the vectors.
FitFn = Callable[[Dataset, int], VectorTable]


def fit_fn(algorithm: str | type[Algorithm], params: Mapping[str, Any] | None = None) -> FitFn:
    """A :data:`FitFn` of a registered algorithm (by name or class) with ``params``."""
    cls = algorithms.get(algorithm) if isinstance(algorithm, str) else algorithm
    base = dict(params or {})

    def fit(dataset: Dataset, seed: int) -> VectorTable:
        return cls({**base, "seed": seed}).fit(dataset).embeddings

    return fit


def seed_floor(
    fit: FitFn,
    dataset: Dataset,
    seeds: tuple[int, int] = (0, 1),
    support: Support | None = None,
    **options: Any,
) -> DriftReport:
    """Drift figures between cold fits of ``dataset`` with ``seeds[0]`` and ``seeds[1]``.

    ``support`` defaults to :func:`support_from_dataset`; ``options`` go to
    :func:`~embank.refresh.drift.drift` (``k``, ``n_queries``, ``seed``, ``metric``, ...).
    The report's settings record the seeds. Raises :class:`ValidationError` for equal
    seeds.
    """
    first_seed, second_seed = seeds
    if first_seed == second_seed:
        raise ValidationError(f"the seed floor needs two different seeds, got {seeds}")
    first = fit(dataset, first_seed)
    second = fit(dataset, second_seed)
    if support is None:
        support = support_from_dataset(dataset, second)
    report = drift(first, second, support, **options)
    return DriftReport(
        report.figures, {**report.settings, "seeds": [first_seed, second_seed]}, report.timings_s
    )
