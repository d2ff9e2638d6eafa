"""Read a MATLAB ``.mat`` sparse matrix as edges or as (key, label) pairs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.io
import scipy.sparse as sp

from embank.errors import DataError
from embank.spec.models import EdgesSource, LabelsSource, PairsSource, TableSource, TextSource

__all__ = ["read_mat"]


def read_mat(
    path: Path,
    source: EdgesSource | LabelsSource | PairsSource | TextSource | TableSource,
    wanted: Mapping[str, str],
    field: str,
) -> pa.Table:
    """Edges (row, column, value) or (key=row, label=column) pairs of a sparse matrix."""
    mat_key = getattr(source, "mat_key", None)
    if mat_key is None:
        raise DataError(f"{field}: .mat files hold matrices; they serve data.edges and data.labels")
    try:
        variables = [name for name, _, _ in scipy.io.whosmat(path)]
        if mat_key not in variables:
            raise DataError(
                f"{field}: variable {mat_key!r} not in {path} "
                f"(variables: {', '.join(variables)}); set {field}.mat_key"
            )
        matrix = scipy.io.loadmat(path, variable_names=[mat_key])[mat_key]
    except DataError:
        raise
    except Exception as error:  # scipy raises several kinds for files it cannot parse
        raise DataError(f"{field}: cannot read {path} as a MATLAB file: {error}") from error
    if not (sp.issparse(matrix) or (isinstance(matrix, np.ndarray) and matrix.ndim == 2)):
        raise DataError(f"{field}: {mat_key!r} in {path} is not a 2-D matrix")
    try:
        csr = sp.csr_matrix(matrix, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{field}: {mat_key!r} in {path} is not numeric") from error
    csr.sum_duplicates()
    csr.eliminate_zeros()
    coo = csr.tocoo()  # row-major order
    n_rows, n_cols = csr.shape
    if "key" in wanted:  # labels: node x label 0/1 matrix
        columns = {"key": _index_text(coo.row, n_rows), "label": _index_text(coo.col, n_cols)}
    else:
        if n_rows != n_cols:
            raise DataError(
                f"{field}: {mat_key!r} in {path} is {n_rows} x {n_cols}; "
                "an adjacency matrix must be square"
            )
        columns = {
            "src": _index_text(coo.row, n_rows),
            "dst": _index_text(coo.col, n_cols),
            "weight": pa.array(coo.data, type=pa.float64()),
        }
    return pa.table({ours: columns[ours] for ours in wanted if ours in columns})


def _index_text(indices: np.ndarray, n: int) -> pa.Array:
    names = pa.array(np.arange(n).astype(str), type=pa.string())
    return pc.take(names, pa.array(indices.astype(np.int64)))
