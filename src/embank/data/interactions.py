"""User x item interactions (implicit feedback), and the sequences they form."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Interactions"]


@dataclass(frozen=True, eq=False)
class Interactions:
    """Who interacted with what: a ``src`` x ``dst`` sparse matrix of summed weights.

    ``src_keys`` / ``dst_keys`` are sorted bytewise and name the matrix's rows / columns.
    ``sequences`` holds, when the source gave ``ts`` or ``session``, each sequence of
    ``dst`` column ids in time order (one per user, or one per session).
    """

    src_entity: str
    dst_entity: str
    src_keys: np.ndarray
    dst_keys: np.ndarray
    matrix: sp.csr_matrix
    sequences: list[np.ndarray] = field(default_factory=list)

    @property
    def n_src(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_dst(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)
