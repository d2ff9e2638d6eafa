"""Refresh: keep a table fresh without breaking its consumers.

The pieces a refresh runs after the fit (warm start lives in the algorithms, see
:meth:`embank.algorithms.Algorithm.init_from`):

- :func:`align` rotates a new version onto the previous one (orthogonal Procrustes over
  shared, well-supported keys), :func:`rotate_operators` turns a multi-relation table's
  operators with it;
- :func:`drift` measures how far the new version moved (:class:`DriftReport`, flat
  figure names for gates), :func:`seed_floor` how far the algorithm moves by chance;
- :func:`foldin` gives vectors to new keys between refreshes, without a refit.
"""

from embank.refresh.align import (
    DEFAULT_MIN_SUPPORT,
    Alignment,
    align,
    fit_alignment,
    procrustes_rotation,
    rotate,
)
from embank.refresh.drift import DriftReport, drift, eigenspace_overlap
from embank.refresh.foldin import FoldInResult, foldin
from embank.refresh.keys import SharedRows, Support, shared_rows, support_from_dataset
from embank.refresh.operators import apply_operator, rotate_operators
from embank.refresh.seed_floor import FitFn, fit_fn, seed_floor

__all__ = [
    "DEFAULT_MIN_SUPPORT",
    "Alignment",
    "DriftReport",
    "FitFn",
    "FoldInResult",
    "SharedRows",
    "Support",
    "align",
    "apply_operator",
    "drift",
    "eigenspace_overlap",
    "fit_alignment",
    "fit_fn",
    "foldin",
    "procrustes_rotation",
    "rotate",
    "rotate_operators",
    "seed_floor",
    "shared_rows",
    "support_from_dataset",
]
