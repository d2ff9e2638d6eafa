"""Exact nearest-neighbour search: small tables, and the ground truth for ANN indexes.

Scores rows in chunks so memory stays bounded on memory-mapped tables of any size.
"""

from __future__ import annotations

import numpy as np

from embank.errors import ValidationError

__all__ = ["ExactIndex"]

_CHUNK_ROWS = 65_536


class ExactIndex:
    """Top-k by cosine or dot product over ``vectors`` (n x dim, float32, may be a memmap)."""

    def __init__(self, vectors: np.ndarray, metric: str) -> None:
        if metric not in ("cosine", "dot"):
            raise ValidationError(f"unknown metric {metric!r}: use 'cosine' or 'dot'")
        self.vectors = vectors
        self.metric = metric
        self._inv_norms: np.ndarray | None = None

    def _row_scale(self) -> np.ndarray | None:
        if self.metric != "cosine":
            return None
        if self._inv_norms is None:
            norms = np.empty(len(self.vectors), dtype=np.float32)
            for lo in range(0, len(self.vectors), _CHUNK_ROWS):
                block = np.asarray(self.vectors[lo : lo + _CHUNK_ROWS], dtype=np.float32)
                norms[lo : lo + len(block)] = np.linalg.norm(block, axis=1)
            with np.errstate(divide="ignore"):
                self._inv_norms = np.where(norms > 0, 1.0 / norms, 0.0).astype(np.float32)
        return self._inv_norms

    def search(
        self,
        queries: np.ndarray,
        k: int,
        rows: tuple[int, int] | None = None,
        exclude: list[set[int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query within ``rows`` = [lo, hi), best first.

        Returns (row ids, scores), each m x k'; k' = min(k, candidates), with -1 / nan
        padding where a query had fewer candidates after ``exclude``.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.vectors.shape[1]:
            raise ValidationError(
                f"query has dimension {queries.shape[1]}, the table has {self.vectors.shape[1]}"
            )
        if not np.isfinite(queries).all():
            raise ValidationError("query vectors must be finite (no NaN or Inf)")
        lo, hi = rows if rows is not None else (0, len(self.vectors))
        scale = self._row_scale()
        if scale is not None:
            qnorm = np.linalg.norm(queries, axis=1, keepdims=True)
            if (qnorm == 0).any():
                raise ValidationError("a zero query vector has no cosine neighbours")
            queries = queries / qnorm
        n_extra = max((len(e) for e in exclude), default=0) if exclude else 0
        want = min(k + n_extra, hi - lo)
        best_rows = np.full((len(queries), 0), -1, dtype=np.int64)
        best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        for start in range(lo, hi, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, hi)
            block = np.asarray(self.vectors[start:stop], dtype=np.float32)
            scores = queries @ block.T
            if scale is not None:
                scores *= scale[start:stop]
            take = min(want, stop - start)
            top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            best_rows = np.concatenate([best_rows, top + start], axis=1)
            best_scores = np.concatenate(
                [best_scores, np.take_along_axis(scores, top, axis=1)], axis=1
            )
            if best_rows.shape[1] > want:
                keep = np.argpartition(-best_scores, want - 1, axis=1)[:, :want]
                best_rows = np.take_along_axis(best_rows, keep, axis=1)
                best_scores = np.take_along_axis(best_scores, keep, axis=1)
        # Order by score, then row id, so ties come out the same every time.
        order = np.lexsort((best_rows, -best_scores), axis=1)
        best_rows = np.take_along_axis(best_rows, order, axis=1)
        best_scores = np.take_along_axis(best_scores, order, axis=1)
        if not exclude:
            return best_rows[:, :k], best_scores[:, :k]
        out_rows = np.full((len(queries), min(k, want)), -1, dtype=np.int64)
        out_scores = np.full(out_rows.shape, np.nan, dtype=np.float32)
        for i, skip in enumerate(exclude):
            kept = [j for j, r in enumerate(best_rows[i]) if r not in skip][: out_rows.shape[1]]
            out_rows[i, : len(kept)] = best_rows[i, kept]
            out_scores[i, : len(kept)] = best_scores[i, kept]
        return out_rows, out_scores
