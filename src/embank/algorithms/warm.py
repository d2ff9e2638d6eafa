"""Warm start helpers: a previous version's vectors matched to a new fit's keys.

Rows are matched by (entity, key), never by position: a refresh may add, drop and reorder
keys. See :meth:`embank.algorithms.base.Algorithm.init_from` for the contract.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from embank.algorithms.base import WarmStart
from embank.errors import ValidationError

__all__ = ["matched_vectors", "neighbour_mean"]

log = logging.getLogger(__name__)


def matched_vectors(
    warm: WarmStart, entity: str, keys: np.ndarray, dim: int, algorithm: str
) -> tuple[np.ndarray, np.ndarray]:
    """The previous vector of each ``(entity, key)``: float32 (n x dim) and a found mask.

    Rows of keys the previous version lacks are zero and ``found`` is False there. Raises
    :class:`ValidationError` when the previous version has another dimension.
    """
    previous = warm.previous
    if previous.dim != dim:
        raise ValidationError(
            f"{algorithm}: the previous version has dim {previous.dim}, the params say "
            f"{dim}; a warm start needs the same dim (fit cold to change it)"
        )
    rows = previous.rows_of(entity, keys)
    found = rows >= 0
    vectors = np.zeros((len(keys), dim), dtype=np.float32)
    vectors[found] = previous.vectors[rows[found]]
    log.info(
        "%s warm start: %d of %d %s keys start from the previous version",
        algorithm,
        int(found.sum()),
        len(keys),
        entity,
    )
    return vectors, found


def neighbour_mean(
    links: sp.spmatrix, vectors: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's link-weighted mean of its known neighbours' vectors (float32).

    ``links`` (rows x n) weighs row ``i``'s link to key ``j``; only columns where
    ``known`` is True count. Returns the means and a mask of rows that had a known
    neighbour (the other rows are zero). The fold-in of a graph table's new key.
    """
    weights = sp.csr_matrix(links, dtype=np.float64) @ sp.diags(known.astype(np.float64))
    weights = sp.csr_matrix(weights)
    totals = np.asarray(weights.sum(axis=1)).ravel()
    sums = weights @ np.asarray(vectors, dtype=np.float64)
    has = totals > 0
    means = np.zeros_like(sums)
    means[has] = sums[has] / totals[has, None]
    return means.astype(np.float32), has
