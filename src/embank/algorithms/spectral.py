"""Fast spectral embeddings of a graph (ProNE / NetMF family), numpy and scipy only.

Three methods share one entry point:

- ``eigen``: top eigenvectors of the degree-regularised normalised adjacency
  ``D_tau^-1/2 A D_tau^-1/2`` with ``D_tau = D + tau``, scaled by ``sqrt(|eigenvalue|)``;
  with ``scale: reconstruction`` each row is also scaled by ``sqrt(d_tau)``, so dot
  products are the rank-``dim`` reconstruction ``D_tau^1/2 U L U^T D_tau^1/2`` of the
  adjacency itself: the vectors keep degree, which link prediction by dot product needs.
- ``prone``: ProNE (Zhang et al., IJCAI 2019), sparse factorisation then Chebyshev
  spectral propagation.
- ``netmf``: NetMF (Qiu et al., WSDM 2018) for window ``T`` through the top eigenpairs;
  dense n x n, so limited to 50,000 nodes.

Directed graphs are symmetrised as ``(A + A.T) / 2`` first: every method needs a
symmetric operator. Column signs are fixed (largest-|value| entry positive) so a fit is
reproducible and does not depend on the solver's arbitrary sign choice.

Warm start (``init_from``, method ``eigen`` only): the previous version's vectors, matched
by key, span (nearly) the wanted eigenspace whatever their column scaling or alignment
rotation, so their orthonormalised basis (plus ``dim // 4`` random guard columns, which
speed up convergence where eigenvalues crowd at the cut) seeds
``scipy.sparse.linalg.lobpcg``; a new key starts one power step from its neighbours.
When LOBPCG does not reach ``warm_tol`` within ``warm_maxiter`` iterations the fit falls
back to ARPACK, the cold path. Graphs small enough for the dense solver ignore the warm
start: dense is exact. prone and netmf fit cold (logged).

What it buys, measured on BlogCatalog (dim 128, one BLAS thread, ARPACK 6.7 s): on
unchanged data the start already spans the answer (0 iterations, 0.7 s); with 0.01 % to
0.5 % new edges LOBPCG takes 10-20 iterations (2.9 to 6.3 s). Eigenvalues crowd at the
cut (the 128th and 129th differ by 4e-4), so a larger change turns the edge of the wanted
subspace far enough that LOBPCG is slower than ARPACK (10 % new edges: 20 iterations,
twice the time); a start that far off (judged by the median residual of its Ritz
vectors, see :mod:`embank.algorithms.warm_eigen`) goes to ARPACK at once. At ``warm_tol``
1e-3 the vectors match a cold fit's (overlap@10 1.0, aligned cosine distance p99 1e-4);
at 1e-2 they do not (overlap 0.9).
"""

from __future__ import annotations

import logging
from typing import Literal, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import Field, model_validator
from scipy.sparse.linalg import eigsh
from scipy.special import iv
from sklearn.utils.extmath import randomized_svd

from embank.algorithms.base import Algorithm, AlgorithmParams, WarmStart
from embank.algorithms.warm import matched_vectors
from embank.algorithms.warm_eigen import warm_top_eigenpairs
from embank.data.graph import Dataset, Graph
from embank.errors import EmptySelectionError, ValidationError
from embank.progress import Progress, Task
from embank.vector_table import VectorTable

__all__ = ["Spectral"]

log = logging.getLogger(__name__)

NETMF_MAX_NODES = 50_000
# Below this size (or for many eigenpairs) a dense solver is faster and more robust than ARPACK.
_DENSE_MAX_NODES = 500
# ProNE's setting; more power iterations buy little on sparse graphs.
_SVD_N_ITER = 5


class Spectral(Algorithm):
    """Spectral graph embedding; see the module docstring for the methods."""

    name = "spectral"
    supports_warm_start = True  # method eigen; prone and netmf fit cold

    class Params(AlgorithmParams):
        method: Literal["eigen", "prone", "netmf"] = Field(
            "eigen", description="eigen (fastest, default), prone, or netmf (<= 50,000 nodes)."
        )
        tau: float = Field(
            1.0, ge=0, description="eigen: degree regulariser added to every degree."
        )
        scale: Literal["eigenvalue", "none", "reconstruction"] = Field(
            "eigenvalue",
            description="eigen: scale eigenvectors by sqrt(|eigenvalue|) (eigenvalue), not "
            "at all (none), or by sqrt(eigenvalue) and each row by sqrt(degree + tau) "
            "(reconstruction: dot products reconstruct the adjacency, so vectors keep "
            "degree; publish with metric dot, e.g. for link prediction).",
        )
        order: int = Field(10, ge=1, le=100, description="prone: Chebyshev expansion order.")
        mu: float = Field(0.2, description="prone: centre of the band-pass spectral filter.")
        theta: float = Field(0.5, gt=0, description="prone: width of the spectral filter.")
        window: int = Field(10, ge=1, le=100, description="netmf: context window size T.")
        rank: int = Field(256, ge=1, description="netmf: eigenpairs used to approximate M.")
        warm_tol: float = Field(
            1e-3,
            gt=0,
            description="eigen, warm start: residual norm ||Au - lu|| every eigenvector must "
            "reach in LOBPCG, else the fit falls back to ARPACK (cold).",
        )
        warm_maxiter: int = Field(
            40, ge=1, description="eigen, warm start: LOBPCG iterations before the fallback."
        )

        @model_validator(mode="after")
        def _reconstruction_needs_eigen(self) -> Self:
            if self.scale == "reconstruction" and self.method != "eigen":
                raise ValueError(
                    f"scale: reconstruction applies to method eigen, not {self.method}"
                )
            return self

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Embed ``dataset.graph``; raises :class:`ValidationError` if dim >= n_nodes."""
        graph: Graph = dataset.require("graph", self.name, "data.edges")
        p = self.params
        n_nodes = graph.n_nodes
        if n_nodes == 0:
            raise EmptySelectionError("spectral: the graph has no nodes; check data.edges")
        if p.dim >= n_nodes:
            raise ValidationError(
                f"dim {p.dim} must be smaller than the number of nodes {n_nodes}; lower dim"
            )
        if p.method == "netmf" and n_nodes > NETMF_MAX_NODES:
            raise ValidationError(
                f"method netmf builds a dense n x n matrix and accepts at most "
                f"{NETMF_MAX_NODES:,} nodes, this graph has {n_nodes:,}: use method eigen"
            )
        adjacency = sp.csr_matrix(graph.adjacency, dtype=np.float64)
        if graph.directed:
            adjacency = ((adjacency + adjacency.T) / 2).tocsr()
        rng = np.random.default_rng(p.seed)
        warm = self.warm_start
        self.warm_start_: dict[str, object] | None = None
        if warm is not None and p.method != "eigen":
            log.warning("spectral: method %s cannot warm start; it fits cold", p.method)
            self.warm_start_ = {"used": False, "reason": f"method {p.method} fits cold"}
            warm = None
        with self._progress(progress).task(f"spectral ({p.method})", total=2) as task:
            if p.method == "eigen":
                vectors = self._eigen(adjacency, rng, task, warm, graph)
            elif p.method == "prone":
                vectors = self._prone(adjacency, task)
            else:
                vectors = self._netmf(adjacency, rng, task)
        vectors = _fix_signs(vectors).astype(np.float32)
        self.embeddings_ = VectorTable.single_entity(graph.entity, graph.index_to_key, vectors)
        return self

    def _eigen(
        self,
        adjacency: sp.csr_matrix,
        rng: np.random.Generator,
        task: Task,
        warm: WarmStart | None = None,
        graph: Graph | None = None,
    ) -> np.ndarray:
        p = self.params
        degrees = np.asarray(adjacency.sum(axis=1)).ravel() + p.tau
        operator = _sym_normalize(adjacency, degrees)
        task.advance()
        n = operator.shape[0]
        if warm is not None and graph is not None and not _dense(n, p.dim):
            start, found = self._warm_basis(warm, graph, degrees, operator)
            values, vectors, info = warm_top_eigenpairs(
                operator, p.dim, start, p.warm_tol, p.warm_maxiter
            )
            if values is None:
                log.warning("spectral: %s; falling back to ARPACK", info["reason"])
                values, vectors = _top_eigenpairs(operator, p.dim, rng)
            self.warm_start_ = {
                "used": True,
                "matched": int(found.sum()),
                "new": int((~found).sum()),
                **info,
            }
        else:
            if warm is not None:
                self.warm_start_ = {"used": False, "reason": "dense solver (small graph)"}
            values, vectors = _top_eigenpairs(operator, p.dim, rng)
        task.advance()
        if p.scale == "eigenvalue":
            vectors = vectors * np.sqrt(np.abs(values))
        elif p.scale == "reconstruction":
            # x_i . x_j = sum_k l_k sqrt(d_i) u_ik u_jk sqrt(d_j), the rank-dim A_ij. A
            # negative eigenvalue (only when dim reaches them) would add with the wrong
            # sign, so its column is zeroed instead.
            vectors = vectors * np.sqrt(np.maximum(values, 0.0)) * np.sqrt(degrees)[:, None]
        return vectors

    def _warm_basis(
        self, warm: WarmStart, graph: Graph, degrees: np.ndarray, operator: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        """The previous vectors as a start block (float64, n x dim), and which keys matched.

        Column scaling (eigenvalues) and an alignment rotation leave the span alone, so
        the previous vectors are used as they are; only ``reconstruction``'s row scaling
        by sqrt(degree + tau) is undone (with the new degrees). A new key gets one power
        step from its neighbours, ``u_i = (S u)_i / l`` with ``l`` each column's Rayleigh
        quotient: what an eigenvector's entry would be. (Random rows for 3 new keys of a
        1,000-node graph raised the start's median residual tenfold.)
        """
        p = self.params
        previous, found = matched_vectors(warm, graph.entity, graph.index_to_key, p.dim, self.name)
        start = previous.astype(np.float64)
        if p.scale == "reconstruction":
            start /= np.sqrt(degrees)[:, None]
        if not found.all():
            product = operator @ start
            rayleigh = (start * product).sum(axis=0) / np.maximum((start**2).sum(axis=0), 1e-300)
            safe = np.where(np.abs(rayleigh) > 1e-12, rayleigh, 1.0)
            start[~found] = product[~found] / safe
        return start, found

    def _prone(self, adjacency: sp.csr_matrix, task: Task) -> np.ndarray:
        p = self.params
        # Sparse factorisation: log p(j|i) - log of the 0.75-smoothed negative-sampling term.
        transition = _row_normalize(adjacency)
        negative = np.asarray(transition.sum(axis=0)).ravel() ** 0.75
        negative /= negative.sum()
        factor = transition.copy()
        factor.data = _safe_log(transition.data) - _safe_log(negative[factor.indices])
        u, s, _ = randomized_svd(factor, p.dim, n_iter=_SVD_N_ITER, random_state=p.seed)
        base = _l2_normalize(u * np.sqrt(s))
        task.advance()
        vectors = _l2_normalize(self._propagate(adjacency, base))
        task.advance()
        return vectors

    def _propagate(self, adjacency: sp.csr_matrix, base: np.ndarray) -> np.ndarray:
        """ProNE's band-pass filter on the self-looped graph, as its reference code does."""
        p = self.params
        if p.order == 1:
            return base
        n = adjacency.shape[0]
        looped = (adjacency + sp.identity(n, format="csr")).tocsr()
        # M = L - mu I with L the random-walk Laplacian of the self-looped graph.
        op = sp.identity(n, format="csr") * (1.0 - p.mu) - _row_normalize(looped)
        lx0 = base
        lx1 = 0.5 * (op @ (op @ base)) - base
        conv = iv(0, p.theta) * lx0 - 2 * iv(1, p.theta) * lx1
        for i in range(2, p.order):
            lx2 = (op @ (op @ lx1) - 2 * lx1) - lx0
            conv += (2 if i % 2 == 0 else -2) * iv(i, p.theta) * lx2
            lx0, lx1 = lx1, lx2
        filtered = looped @ (base - conv)
        u, s, _ = scipy.linalg.svd(filtered, full_matrices=False, check_finite=False)
        return u[:, : p.dim] * np.sqrt(s[: p.dim])

    def _netmf(self, adjacency: sp.csr_matrix, rng: np.random.Generator, task: Task) -> np.ndarray:
        p = self.params
        n = adjacency.shape[0]
        degrees = np.asarray(adjacency.sum(axis=1)).ravel()
        values, vectors = _top_eigenpairs(
            _sym_normalize(adjacency, degrees), min(p.rank, n - 1), rng
        )
        task.advance()
        # DeepWalk filter: mean of lambda^1..lambda^T, negative parts dropped (NetMF eq. 12).
        filtered = np.ones_like(values)
        below = values < 1
        x = values[below]
        filtered[below] = x * (1 - x**p.window) / (1 - x) / p.window
        filtered = np.maximum(filtered, 0)
        inv_sqrt = _inv_sqrt(degrees)
        factor = (inv_sqrt[:, None] * vectors) * np.sqrt(filtered)
        # M = vol(G)/b * D^-1 U F U^T D^-1 with b = 1 negative; in place to hold one n x n.
        dense = factor @ factor.T
        dense *= degrees.sum()
        np.maximum(dense, 1.0, out=dense)
        np.log(dense, out=dense)
        u, s, _ = randomized_svd(dense, p.dim, n_iter=_SVD_N_ITER, random_state=p.seed)
        task.advance()
        return u * np.sqrt(s)


def _dense(n: int, k: int) -> bool:
    """Whether the dense solver takes ``k`` eigenpairs of an ``n x n`` matrix."""
    return n <= _DENSE_MAX_NODES or 4 * k >= n


def _top_eigenpairs(
    operator: sp.csr_matrix, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs of a symmetric matrix, eigenvalues descending."""
    n = operator.shape[0]
    if _dense(n, k):
        values, vectors = scipy.linalg.eigh(operator.toarray(), subset_by_index=[n - k, n - 1])
    else:
        # A seeded start vector makes ARPACK deterministic (its default is random).
        v0 = rng.uniform(-1.0, 1.0, n)
        values, vectors = eigsh(operator, k=k, which="LA", v0=v0)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def _inv_sqrt(degrees: np.ndarray) -> np.ndarray:
    """1/sqrt(d), with 0 for isolated nodes instead of a division by zero."""
    out = np.zeros_like(degrees, dtype=np.float64)
    positive = degrees > 0
    out[positive] = 1.0 / np.sqrt(degrees[positive])
    return out


def _sym_normalize(adjacency: sp.csr_matrix, degrees: np.ndarray) -> sp.csr_matrix:
    scale = sp.diags(_inv_sqrt(degrees))
    return (scale @ adjacency @ scale).tocsr()


def _row_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(abs(matrix).sum(axis=1)).ravel()
    inv = np.zeros_like(sums)
    inv[sums > 0] = 1.0 / sums[sums > 0]
    return (sp.diags(inv) @ matrix).tocsr()


def _l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _safe_log(values: np.ndarray) -> np.ndarray:
    # Explicit zeros (or a zero-mass column) contribute log(1) = 0, as in ProNE.
    return np.log(np.where(values > 0, values, 1.0))


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each column so its largest-|value| entry is positive."""
    rows = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs
