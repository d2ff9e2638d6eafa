"""Per-key attributes that some algorithms embed: text, and wide feature tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Features", "Metadata", "Texts"]


@dataclass(frozen=True, eq=False)
class Texts:
    """One text per key of ``entity`` (titles, descriptions, bios); keys sorted bytewise."""

    entity: str
    keys: np.ndarray
    texts: list[str]


@dataclass(frozen=True, eq=False)
class Features:
    """A wide feature table: one row per key, one-hot categorical and numeric columns.

    ``matrix`` is CSR float32 (n_keys x n_columns); ``columns`` names each column
    (``gender=F``, ``age``); ``groups`` maps each source column to its column ids.
    """

    entity: str
    keys: np.ndarray
    matrix: sp.csr_matrix
    columns: list[str]
    groups: dict[str, list[int]]


@dataclass(frozen=True, eq=False)
class Metadata:
    """Columns per key for metadata prediction: ``frame`` has ``key`` then one column each,
    categorical (text, numeric columns bucketed by their bins) or numeric."""

    entity: str
    frame: pd.DataFrame
