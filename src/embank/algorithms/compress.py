"""Feature compression: a wide feature table (one-hot and numeric columns) to dense vectors.

Two methods:

- ``autoencoder`` (default): a small PyTorch MLP, input -> hidden -> dim -> hidden ->
  input, trained with mean squared error; the dim-wide middle layer is the embedding.
  Sparse rows are made dense one batch at a time, so memory stays bounded by the batch.
- ``svd``: scikit-learn's TruncatedSVD (randomized, seeded): one pass, no training.

Columns named ``GROUP=VALUE`` inside their group ``GROUP`` are one-hot; every other column
is numeric and, with ``standardize`` (default), scaled to mean 0 and variance 1 first, so
that a wide-ranged column (income in dollars) does not drown the one-hot ones.

After a fit, ``report_`` says how much downstream signal survived the compression, for
each source column group, on a seeded held-out split of at most 5,000 rows: for a
categorical group, the accuracy of a logistic regression from the vectors back to the
category beside the majority-class accuracy; for a numeric (or multi-hot) group, the R^2
of a ridge regression. ``retained`` puts each figure on one scale: 0 is the baseline
(majority class, or the mean), 1 is perfect recovery.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from embank.algorithms.base import Algorithm, AlgorithmParams
from embank.data.attributes import Features
from embank.data.graph import Dataset
from embank.errors import DataError, EmptySelectionError, ValidationError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["FeatureCompression"]

# The report's budget: rows sampled, share held out, classes kept per categorical group.
REPORT_MAX_ROWS = 5_000
_REPORT_TEST_SHARE = 0.3
_REPORT_MAX_CLASSES = 50
_REPORT_CHUNK_ROWS = 256
_MIN_STD = 1e-12


class FeatureCompression(Algorithm):
    """Compresses ``dataset.features``; see the module docstring for the methods."""

    name = "compress"

    class Params(AlgorithmParams):
        dim: int = Field(
            32, ge=1, le=4096, description="Dimension of the vectors; at most the column count."
        )
        method: Literal["autoencoder", "svd"] = Field(
            "autoencoder",
            description="autoencoder (a small PyTorch MLP, default) or svd (TruncatedSVD, "
            "fastest, linear).",
        )
        hidden: int = Field(
            256, ge=1, le=65_536, description="autoencoder: width of the hidden layers."
        )
        epochs: int = Field(30, ge=1, le=10_000, description="autoencoder: passes over the rows.")
        batch_size: int = Field(
            128, ge=1, le=1_000_000, description="autoencoder: rows per training step."
        )
        learning_rate: float = Field(
            3e-3, gt=0, le=10, description="autoencoder: Adam's learning rate."
        )
        standardize: bool = Field(
            True, description="Scale numeric columns to mean 0, variance 1 before compressing."
        )
        n_threads: int | None = Field(
            1,
            ge=1,
            le=1024,
            description="CPU threads for torch and BLAS during the fit (1, bit-identical for "
            "a fixed seed); unset keeps the libraries' defaults. More help wide tables only.",
        )

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Compress every key's feature row into ``dim`` numbers, then fill ``report_``.

        Raises :class:`DataError` without features or with non-finite values,
        :class:`EmptySelectionError` without rows, and :class:`ValidationError` when
        ``dim`` is more than the columns (or, for svd, the rows).
        """
        features: Features = dataset.require("features", self.name, "data.features")
        p = self.params
        matrix = _checked_matrix(features, p)
        numeric = _numeric_columns(features)
        prepared = _standardized(matrix, numeric) if p.standardize else matrix
        with _thread_limits(p.n_threads, torch_too=p.method == "autoencoder"):
            if p.method == "svd":
                vectors, decode = self._svd(prepared, progress)
            else:
                vectors, decode = self._autoencoder(prepared, progress)
            with self._progress(progress).task("compress: signal report", total=1) as task:
                self.report_ = _report(features, prepared, vectors, decode, p)
                task.advance()
        self.embeddings_ = VectorTable.single_entity(features.entity, features.keys, vectors)
        return self

    def _svd(self, prepared: sp.csr_matrix, progress: Progress | None) -> tuple[np.ndarray, Any]:
        from sklearn.decomposition import TruncatedSVD

        with self._progress(progress).task("compress (svd)", total=1) as task:
            svd = TruncatedSVD(n_components=self.params.dim, random_state=self.params.seed)
            vectors = svd.fit_transform(prepared.astype(np.float64))
            task.advance()
        self.svd_ = svd
        return vectors.astype(np.float32), svd.inverse_transform

    def _autoencoder(
        self, prepared: sp.csr_matrix, progress: Progress | None
    ) -> tuple[np.ndarray, Any]:
        import torch

        p = self.params
        n_rows, n_columns = prepared.shape
        rng = np.random.default_rng(p.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            encoder, decoder = _autoencoder_layers(n_columns, p.hidden, p.dim)
        model = torch.nn.Sequential(encoder, decoder)
        optimizer = torch.optim.Adam(model.parameters(), lr=p.learning_rate)
        losses: list[float] = []
        with self._progress(progress).task("compress (autoencoder)", total=p.epochs) as task:
            model.train()
            for _ in range(p.epochs):
                order = rng.permutation(n_rows)
                total = 0.0
                for start in range(0, n_rows, p.batch_size):
                    batch = _dense_rows(prepared, order[start : start + p.batch_size])
                    optimizer.zero_grad(set_to_none=True)
                    loss = torch.nn.functional.mse_loss(model(batch), batch)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * batch.shape[0]
                losses.append(total / n_rows)
                task.advance()
        model.eval()
        vectors = _apply(encoder, prepared, p.batch_size, p.dim)

        def decode(codes: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return decoder(torch.from_numpy(np.asarray(codes, dtype=np.float32))).numpy()

        self.loss_history_ = losses
        return vectors, decode


def _autoencoder_layers(n_columns: int, hidden: int, dim: int) -> tuple[Any, Any]:
    from torch import nn

    encoder = nn.Sequential(nn.Linear(n_columns, hidden), nn.ReLU(), nn.Linear(hidden, dim))
    decoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_columns))
    return encoder, decoder


def _dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(matrix[rows].toarray().astype(np.float32, copy=False))


def _apply(encoder: Any, matrix: sp.csr_matrix, batch_size: int, dim: int) -> np.ndarray:
    """The encoder over every row, one batch at a time."""
    import torch

    vectors = np.empty((matrix.shape[0], dim), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, matrix.shape[0], batch_size):
            rows = np.arange(start, min(start + batch_size, matrix.shape[0]))
            vectors[rows] = encoder(_dense_rows(matrix, rows)).numpy()
    return vectors


def _checked_matrix(features: Features, p: FeatureCompression.Params) -> sp.csr_matrix:
    matrix = sp.csr_matrix(features.matrix, dtype=np.float32)
    n_rows, n_columns = matrix.shape
    if n_rows != len(features.keys):
        raise DataError(f"data.features has {len(features.keys)} keys but {n_rows} rows")
    if n_rows == 0:
        raise EmptySelectionError("data.features selected no keys: there is nothing to embed")
    if len(features.columns) != n_columns:
        raise DataError(f"data.features names {len(features.columns)} columns but has {n_columns}")
    if not np.isfinite(matrix.data).all():
        raise DataError(
            "data.features holds NaN or infinite values: fill or drop them in the source"
        )
    if p.dim > n_columns:
        raise ValidationError(
            f"algorithm 'compress': dim {p.dim} is more than the {n_columns} feature columns; "
            f"lower dim to at most {n_columns}"
        )
    if p.method == "svd" and (n_columns < 2 or p.dim > n_rows):
        raise ValidationError(
            f"algorithm 'compress': method svd needs at least 2 columns and dim <= rows; "
            f"got {n_columns} columns, {n_rows} rows, dim {p.dim}"
        )
    return matrix


def _one_hot_groups(features: Features) -> dict[str, bool]:
    """For each group, whether all its columns are one-hot (named ``GROUP=VALUE``)."""
    return {
        group: bool(ids) and all(features.columns[i].startswith(f"{group}=") for i in ids)
        for group, ids in features.groups.items()
    }


def _numeric_columns(features: Features) -> np.ndarray:
    """Ids of the numeric columns: those that are not ``GROUP=VALUE`` of a one-hot group."""
    one_hot = _one_hot_groups(features)
    is_numeric = np.array(["=" not in name for name in features.columns], dtype=bool)
    for group, ids in features.groups.items():
        is_numeric[ids] = not one_hot[group]
    return np.flatnonzero(is_numeric)


def _standardized(matrix: sp.csr_matrix, numeric: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with its numeric columns at mean 0, variance 1 (constant ones at 0)."""
    if numeric.size == 0:
        return matrix
    dense = matrix[:, numeric].toarray().astype(np.float64)
    std = dense.std(axis=0)
    dense = (dense - dense.mean(axis=0)) / np.where(std > _MIN_STD, std, 1.0)
    keep = np.setdiff1d(np.arange(matrix.shape[1]), numeric)
    # Same column positions as the input, so column ids (groups) keep their meaning.
    order = np.argsort(np.concatenate([keep, numeric]))
    stacked = sp.hstack([matrix[:, keep], sp.csr_matrix(dense.astype(np.float32))], "csr")
    return stacked[:, order].tocsr()


def _report(
    features: Features,
    prepared: sp.csr_matrix,
    vectors: np.ndarray,
    decode: Any,
    p: FeatureCompression.Params,
) -> dict[str, Any]:
    """How much of each column group the vectors still predict; see the module docstring."""
    rng = np.random.default_rng(p.seed)
    n_rows = vectors.shape[0]
    sample = np.sort(rng.choice(n_rows, min(n_rows, REPORT_MAX_ROWS), replace=False))
    codes = vectors[sample]
    mse, r2 = _reconstruction(prepared[sample], codes, decode)
    report: dict[str, Any] = {
        "method": p.method,
        "dim": p.dim,
        "n_columns": int(prepared.shape[1]),
        "reconstruction_mse": mse,
        "reconstruction_r2": r2,
        "n_rows_sampled": len(sample),
        "seed": p.seed,
        "groups": {},
    }
    # Positions within the sample, so every block below is at most sample x group columns.
    shuffled = rng.permutation(len(sample))
    n_test = round(len(sample) * _REPORT_TEST_SHARE)
    if n_test < 2 or len(sample) - n_test < 2:
        report["note"] = "too few rows for a held-out split: no group figures"
        return report
    test, train = np.sort(shuffled[:n_test]), np.sort(shuffled[n_test:])
    report["n_train"], report["n_test"] = len(train), len(test)
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(codes[train])
    x_train, x_test = scaler.transform(codes[train]), scaler.transform(codes[test])
    one_hot = _one_hot_groups(features)
    raw = sp.csr_matrix(features.matrix, dtype=np.float64)[sample]
    for group, ids in features.groups.items():
        if not ids:
            continue
        block = raw[:, ids].tocsr()
        if one_hot[group] and block.getnnz(axis=1).max() <= 1:
            figure = _categorical_figure(_class_labels(block), train, test, x_train, x_test)
        else:
            figure = _numeric_figure(block, train, test, x_train, x_test)
            figure["kind"] = "multi_hot" if one_hot[group] else "numeric"
        report["groups"][group] = figure
    return report


def _reconstruction(original: sp.csr_matrix, codes: np.ndarray, decode: Any) -> tuple[float, float]:
    """Mean squared error and R^2 of the decoded rows, a chunk of rows at a time."""
    n_rows, n_columns = original.shape
    residual = 0.0
    for start in range(0, n_rows, _REPORT_CHUNK_ROWS):
        rows = slice(start, start + _REPORT_CHUNK_ROWS)
        rebuilt = np.asarray(decode(codes[rows]), dtype=np.float64)
        residual += float(((original[rows].toarray() - rebuilt) ** 2).sum())
    # Total sum of squares around the column means, from sparse sums.
    sums = np.asarray(original.sum(axis=0), dtype=np.float64).ravel()
    squares = np.asarray(original.multiply(original).sum(axis=0), dtype=np.float64).ravel()
    spread = float((squares - sums**2 / n_rows).sum())
    r2 = 1.0 - residual / spread if spread > 0 else 1.0
    return residual / (n_rows * n_columns), r2


def _categorical_figure(
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    x_train: np.ndarray,
    x_test: np.ndarray,
) -> dict[str, Any]:
    """Held-out accuracy of a logistic regression beside the majority class's."""
    from sklearn.linear_model import LogisticRegression

    y_train, y_test = labels[train], labels[test]
    classes, counts = np.unique(y_train, return_counts=True)
    majority = float(np.mean(y_test == classes[np.argmax(counts)]))
    accuracy = majority
    if classes.size >= 2:
        model = LogisticRegression(max_iter=1_000).fit(x_train, y_train)
        accuracy = float(np.mean(model.predict(x_test) == y_test))
    return {
        "kind": "categorical",
        "metric": "accuracy",
        "value": accuracy,
        "baseline": majority,
        "retained": 1.0 if majority >= 1.0 else (accuracy - majority) / (1.0 - majority),
        "n_classes": int(np.unique(labels).size),
    }


def _numeric_figure(
    block: sp.csr_matrix,
    train: np.ndarray,
    test: np.ndarray,
    x_train: np.ndarray,
    x_test: np.ndarray,
) -> dict[str, Any]:
    """Held-out R^2 of a ridge regression (variance-weighted over the group's columns)."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    target = block.toarray()
    if target.shape[1] > _REPORT_MAX_CLASSES:  # a wide multi-hot group: its busiest columns
        busiest = np.argsort(-target.var(axis=0), kind="stable")[:_REPORT_MAX_CLASSES]
        target = target[:, np.sort(busiest)]
    truth = target[test]
    predicted = Ridge(alpha=1.0).fit(x_train, target[train]).predict(x_test)
    if np.all(truth.var(axis=0) == 0):
        r2 = 1.0 if np.allclose(truth, predicted.reshape(truth.shape)) else 0.0
    else:
        r2 = float(r2_score(truth, predicted, multioutput="variance_weighted"))
    return {"metric": "r2", "value": r2, "baseline": 0.0, "retained": r2}


def _class_labels(block: sp.csr_matrix) -> np.ndarray:
    """Each row's one-hot column (-1 when none is set); rare classes beyond the top
    ``_REPORT_MAX_CLASSES`` merge into one, so the regression stays cheap."""
    labels = np.where(block.getnnz(axis=1) > 0, np.asarray(block.argmax(axis=1)).ravel(), -1)
    values, counts = np.unique(labels, return_counts=True)
    if values.size > _REPORT_MAX_CLASSES:
        kept = values[np.argsort(-counts, kind="stable")[: _REPORT_MAX_CLASSES - 1]]
        labels = np.where(np.isin(labels, kept), labels, -2)
    return labels


@contextmanager
def _thread_limits(n_threads: int | None, torch_too: bool) -> Iterator[None]:
    """BLAS's (and torch's) thread counts for one fit, restored afterwards."""
    if n_threads is None:
        yield
        return
    with threadpool_limits(limits=n_threads):
        if not torch_too:
            yield
            return
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved)
