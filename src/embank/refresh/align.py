"""Alignment: rotate a new version onto the previous one (orthogonal Procrustes).

Each refit makes a new embedding space: even on unchanged data the vectors may come out
rotated (eigenvectors of near-equal eigenvalues, another random start). :func:`align`
finds the orthogonal matrix ``R`` minimising ``||X R - Y||_F`` over the shared,
well-supported keys (``X`` their new rows, ``Y`` their previous rows, matched by
(entity, key)) and applies it to every row of the new table: ``x -> x R`` for row
vectors. Rotation only: no scaling, no shift, so every dot product and cosine between
two vectors of the new version is unchanged, and so are its neighbours and benchmarks.
A co-embedded table (users and items) is rotated by one matrix, which keeps its
user-item scores.

The cross-product ``X^T Y`` and the residuals are accumulated in float64 over chunks of
rows, so a table of millions of rows is aligned without a float64 copy of it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg

from embank.errors import ValidationError
from embank.refresh.keys import SharedRows, Support, shared_rows, support_array
from embank.vector_table import VectorTable

__all__ = [
    "DEFAULT_MIN_SUPPORT",
    "Alignment",
    "align",
    "fit_alignment",
    "procrustes_rotation",
    "rotate",
]

log = logging.getLogger(__name__)

#: Keys with at least this many edges or interactions anchor the rotation.
DEFAULT_MIN_SUPPORT = 50
# Rows per chunk of the float64 accumulations: 65,536 x 128 x 8 bytes = 64 MiB.
_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True, eq=False)
class Alignment:
    """A rotation of one version onto another, and how well it fits.

    ``rotation`` (dim x dim, orthogonal, float64) maps a new row vector ``x`` to
    ``x @ rotation``. The residuals are relative, ``||X R - Y||_F / ||Y||_F`` over the
    ``n_keys`` keys the rotation was fitted on (``before``: with ``R = I``). ``fallback``
    says fewer than ``2 * dim`` keys reached ``min_support``, so every shared key was used.
    """

    rotation: np.ndarray = field(repr=False)
    n_shared: int
    n_keys: int
    min_support: float | None
    fallback: bool
    residual_before: float
    residual_after: float

    @property
    def dim(self) -> int:
        return int(self.rotation.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """Everything but the rotation, JSON-ready (the rotation goes to a .npy file)."""
        result = asdict(self)
        del result["rotation"]
        return {"dim": self.dim, **result}

    def save(self, folder: Path | str) -> None:
        """Write ``alignment.json`` and ``rotation.npy`` (float64) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "rotation.npy", self.rotation, allow_pickle=False)
        (folder / "alignment.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path | str) -> Alignment:
        """Read what :meth:`save` wrote."""
        folder = Path(folder)
        meta = json.loads((folder / "alignment.json").read_text())
        meta.pop("dim", None)
        return cls(rotation=np.load(folder / "rotation.npy", allow_pickle=False), **meta)


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal ``R`` minimising ``||source @ R - target||_F`` (float64).

    The same solution as ``scipy.linalg.orthogonal_procrustes(source, target)``,
    computed from the float64 cross-product accumulated over chunks of rows.
    """
    source, target = _checked_pair(source, target)
    cross = np.zeros((source.shape[1], source.shape[1]), dtype=np.float64)
    for lo in range(0, len(source), _CHUNK_ROWS):
        hi = lo + _CHUNK_ROWS
        cross += source[lo:hi].astype(np.float64).T @ target[lo:hi].astype(np.float64)
    return _rotation_from_cross(cross)


def fit_alignment(
    new: VectorTable,
    previous: VectorTable,
    support: Support | None = None,
    min_support: float = DEFAULT_MIN_SUPPORT,
    shared: SharedRows | None = None,
) -> Alignment:
    """The rotation of ``new`` onto ``previous`` over their shared, well-supported keys.

    ``support`` gives each key of ``new`` its edge or interaction count (an array per row
    of ``new`` or a mapping, see :func:`support_from_dataset`); keys below
    ``min_support`` are left out of the fit, unless fewer than ``2 * dim`` reach it
    (then all shared keys are used, with a warning). Without ``support`` every shared
    key counts. Raises :class:`ValidationError` when the dimensions differ or no key is
    shared.
    """
    if new.dim != previous.dim:
        raise ValidationError(
            f"cannot align a dim {new.dim} table onto a dim {previous.dim} one: a table's "
            "dim is fixed by its first version"
        )
    shared = shared if shared is not None else shared_rows(previous, new)
    if shared.n_shared == 0:
        raise ValidationError(
            "the new and previous versions share no (entity, key): nothing to align on"
        )
    values = support_array(support, new)
    use = np.ones(shared.n_shared, dtype=bool)
    fallback = False
    if values is not None:
        use = values[shared.new] >= min_support
        if use.sum() < 2 * new.dim:
            log.warning(
                "alignment: only %d shared keys have support >= %g (fewer than 2 * dim = "
                "%d); fitting the rotation on all %d shared keys",
                int(use.sum()),
                min_support,
                2 * new.dim,
                shared.n_shared,
            )
            use[:] = True
            fallback = True
    n_keys = int(use.sum())
    if n_keys < new.dim:
        log.warning(
            "alignment: %d keys for a dim %d rotation; it is not unique, only the shared "
            "keys' span is pinned",
            n_keys,
            new.dim,
        )
    new_rows, previous_rows = shared.new[use], shared.previous[use]
    cross = np.zeros((new.dim, new.dim), dtype=np.float64)
    for lo in range(0, n_keys, _CHUNK_ROWS):
        x = new.vectors[new_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        y = previous.vectors[previous_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        cross += x.T @ y
    rotation = _rotation_from_cross(cross)
    before, after, norm = 0.0, 0.0, 0.0
    for lo in range(0, n_keys, _CHUNK_ROWS):
        x = new.vectors[new_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        y = previous.vectors[previous_rows[lo : lo + _CHUNK_ROWS]].astype(np.float64)
        before += float(np.square(x - y).sum())
        after += float(np.square(x @ rotation - y).sum())
        norm += float(np.square(y).sum())
    scale = np.sqrt(norm) if norm > 0 else 1.0
    return Alignment(
        rotation=rotation,
        n_shared=shared.n_shared,
        n_keys=n_keys,
        min_support=None if values is None else float(min_support),
        fallback=fallback,
        residual_before=float(np.sqrt(before) / scale),
        residual_after=float(np.sqrt(after) / scale),
    )


def rotate(table: VectorTable, rotation: np.ndarray) -> VectorTable:
    """``table`` with every row ``x`` replaced by ``x @ rotation`` (float32 result)."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (table.dim, table.dim):
        raise ValidationError(
            f"a rotation of shape {rotation.shape} does not fit a dim {table.dim} table"
        )
    out = np.empty_like(table.vectors)
    for lo in range(0, table.n_rows, _CHUNK_ROWS):
        hi = lo + _CHUNK_ROWS
        out[lo:hi] = table.vectors[lo:hi].astype(np.float64) @ rotation
    return VectorTable(table.entities, table.keys, out)


def align(
    new: VectorTable,
    previous: VectorTable,
    support: Support | None = None,
    min_support: float = DEFAULT_MIN_SUPPORT,
) -> tuple[VectorTable, Alignment]:
    """``new`` rotated onto ``previous``, and the :class:`Alignment` that did it.

    See :func:`fit_alignment` for ``support`` and ``min_support``. Every row of ``new``
    is rotated, the keys ``previous`` lacks too; rows keep their order.
    """
    alignment = fit_alignment(new, previous, support, min_support)
    return rotate(new, alignment.rotation), alignment


def _rotation_from_cross(cross: np.ndarray) -> np.ndarray:
    # argmin ||X R - Y|| over orthogonal R is U V^T of the SVD X^T Y = U S V^T
    # (Schoenemann 1966), which is what scipy.linalg.orthogonal_procrustes computes.
    u, _, vt = scipy.linalg.svd(cross, check_finite=False)
    return u @ vt


def _checked_pair(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    source, target = np.asarray(source), np.asarray(target)
    if source.ndim != 2 or source.shape != target.shape:
        raise ValidationError(
            f"source {source.shape} and target {target.shape} must be 2-D of one shape"
        )
    return source, target
