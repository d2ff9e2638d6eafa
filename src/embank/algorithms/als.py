"""Implicit-feedback ALS that co-embeds users and items, through the ``implicit`` library.

The model of Hu, Koren and Volinsky (ICDM 2008): every (user, item) pair has a preference
(1 where the user interacted, 0 elsewhere) weighted by a confidence (1 elsewhere, and
``alpha * f(weight)`` where the user interacted); alternating least squares finds user
and item factors whose dot product approximates the preferences. ``f`` is the
``confidence`` param: BM25 weighting of the matrix (``implicit.nearest_neighbours.bm25_weight``),
``log1p`` of the weight, the weight itself, or 1 (weights ignored).

Users and items land in one table, in one space: ``dot(user, item)`` is the model's
score, so the table's metric is ``dot`` and "items for this user" is a neighbour query.
Rows of the two entity types are kept apart by their entity (user "1" and item "1" are
two rows). The factors are float32 as ``implicit`` produces them, not normalised.

Runs on the CPU (``implicit.cpu.als``), with BLAS limited to one thread during the fit as
``implicit`` recommends (its own threads do the work). Each user's (item's) factor is
solved independently of how rows are split between threads, so a fit is bit-identical
for a fixed seed whatever ``n_threads`` is (checked in the tests); DESIGN.md's
guarantee is stated for ``n_threads=1``.
"""

from __future__ import annotations

import logging
from typing import Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from embank.algorithms.base import Algorithm, AlgorithmParams
from embank.data.graph import Dataset
from embank.data.interactions import Interactions
from embank.errors import DataError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["ALS", "confidence_matrix"]

log = logging.getLogger(__name__)


class ALS(Algorithm):
    """Users and items co-embedded by implicit-feedback ALS; see the module docstring."""

    name = "als"

    class Params(AlgorithmParams):
        dim: int = Field(64, ge=1, le=4096, description="Number of latent factors.")
        iterations: int = Field(15, ge=1, le=1000, description="ALS sweeps (users, then items).")
        regularization: float = Field(
            30.0,
            ge=0,
            description="L2 penalty on the factors (lambda); it grows with the number of "
            "items, so tune it per data set (30 is best on MovieLens 100K).",
        )
        alpha: float = Field(
            1.0,
            gt=0,
            description="Confidence scale: an observed pair has confidence alpha * f(weight), "
            "an unobserved one 1.",
        )
        confidence: Literal["bm25", "log", "linear", "none"] = Field(
            "bm25",
            description="f(weight): bm25 (BM25 weighting of the user x item matrix), log "
            "(log1p(weight)), linear (the weight), or none (1 for every observed pair).",
        )
        bm25_k1: float = Field(
            1.2, gt=0, description="bm25: weight saturation K1 (small = near binary)."
        )
        bm25_b: float = Field(
            0.75, ge=0, le=1, description="bm25: length normalisation B (0 = none, 1 = full)."
        )
        n_threads: int = Field(
            0, ge=0, description="Threads of the solver; 0 = every core. Any value is "
            "deterministic for a fixed seed.",
        )  # fmt: skip

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Fit on ``dataset.interactions``.

        Raises :class:`DataError` when there are no interactions, when a weight is negative
        or not finite, or when users and items are one entity type (use a graph algorithm).
        """
        from implicit.cpu.als import AlternatingLeastSquares

        interactions: Interactions = dataset.require("interactions", self.name, "data.interactions")
        p = self.params
        if interactions.src_entity == interactions.dst_entity:
            raise DataError(
                f"als co-embeds two entity types, but src and dst are both "
                f"{interactions.src_entity!r}: use a graph algorithm (spectral, node2vec) "
                "for a one-entity relation"
            )
        weights = confidence_matrix(interactions.matrix, p.confidence, p.bm25_k1, p.bm25_b)
        with (
            self._progress(progress).task("als", total=p.iterations) as task,
            threadpool_limits(1, "blas"),
        ):
            model = AlternatingLeastSquares(
                factors=p.dim,
                regularization=p.regularization,
                alpha=p.alpha,
                dtype=np.float32,
                iterations=p.iterations,
                num_threads=p.n_threads,
                random_state=p.seed,
            )
            model.fit(weights, show_progress=False, callback=lambda *_: task.advance())
        user_factors = np.asarray(model.user_factors, dtype=np.float32)
        item_factors = np.asarray(model.item_factors, dtype=np.float32)
        if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
            raise DataError("als produced non-finite factors: lower alpha or raise regularization")
        self.embeddings_ = _co_embedded_table(interactions, user_factors, item_factors)
        return self


def confidence_matrix(
    matrix: sp.spmatrix, confidence: str, bm25_k1: float = 100.0, bm25_b: float = 0.8
) -> sp.csr_matrix:
    """The users x items CSR matrix of ``f(weight)`` that ``implicit`` fits (float32).

    Explicit zeros are dropped (an unobserved pair). Raises :class:`DataError` on an empty
    matrix or a negative or non-finite weight: ``implicit`` reads a negative value as a
    dislike, which the interactions do not mean.
    """
    from implicit.nearest_neighbours import bm25_weight

    weights = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    weights.sum_duplicates()
    if not np.isfinite(weights.data).all():
        raise DataError("als: interaction weights must be finite; found NaN or infinity")
    if (weights.data < 0).any():
        n_negative = int((weights.data < 0).sum())
        raise DataError(
            f"als: {n_negative:,} interactions have a negative weight; implicit feedback "
            "needs weights >= 0 (filter them out in the spec's SQL, or map them to 0)"
        )
    weights.eliminate_zeros()
    if weights.nnz == 0:
        raise DataError("als: there are no interactions with a positive weight to fit")
    if confidence == "bm25":
        # Items are the documents and users the terms, as in implicit's own examples:
        # a user who interacts with many items weighs less on each (idf), and an item's
        # many interactions are length-normalised.
        weights = bm25_weight(weights.T.tocsr(), K1=bm25_k1, B=bm25_b).T
        # idf = log(n_items) - log1p(n_user_items) is <= 0 for a user who had all items but
        # one or none: no information, and implicit would read a negative value as a
        # dislike. Those entries are dropped.
        weights = sp.csr_matrix(weights)
        n_dropped = int((weights.data <= 0).sum())
        if n_dropped:
            log.warning(
                "als: bm25 gave %d interactions a weight <= 0 (their users had nearly every "
                "item); they are left out of the fit",
                n_dropped,
            )
        weights.data = np.maximum(weights.data, 0.0)
    elif confidence == "log":
        weights.data = np.log1p(weights.data)
    elif confidence == "none":
        weights.data[:] = 1.0
    weights = sp.csr_matrix(weights, dtype=np.float32)
    weights.eliminate_zeros()
    return weights


def _co_embedded_table(
    interactions: Interactions, user_factors: np.ndarray, item_factors: np.ndarray
) -> VectorTable:
    """Users and items in one table, the entity blocks in bytewise order (keys are sorted)."""
    blocks = [
        (interactions.src_entity, interactions.src_keys, user_factors),
        (interactions.dst_entity, interactions.dst_keys, item_factors),
    ]
    blocks.sort(key=lambda block: block[0])
    entities = np.concatenate(
        [np.full(len(keys), entity, dtype=object) for entity, keys, _ in blocks]
    )
    keys = np.concatenate([np.asarray(keys, dtype=object) for _, keys, _ in blocks])
    vectors = np.vstack([factors for _, _, factors in blocks])
    return VectorTable(entities, keys, vectors)
