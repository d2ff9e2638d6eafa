"""Metadata prediction: logistic regression from embedding to each metadata column.

For each categorical column (numeric columns count once bucketed by their ``bins``):
5-fold stratified cross-validation, features standardised on the train folds, C chosen
by an inner cross-validation; accuracy and macro-F1 beside the majority-class baseline.
A column "beats the baseline" when its accuracy exceeds the baseline's by more than two
standard errors of the per-fold difference.
"""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
from pandas.api.types import is_numeric_dtype
from pydantic import Field
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from embank.benchmarks.base import Benchmark, BenchmarkInputs, BenchmarkParams, Figure, TaskResult
from embank.errors import DataError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["MetadataPrediction"]


class MetadataPredictionParams(BenchmarkParams):
    entity: str | None = Field(
        None, description="Entity type whose metadata is predicted; defaults to the metadata's."
    )
    columns: list[str] | None = Field(
        None, description="Columns to predict; defaults to every categorical column."
    )
    folds: int = Field(5, ge=2, le=20, description="Outer cross-validation folds.")
    Cs: list[float] = Field(
        [0.01, 0.1, 1.0, 10.0], min_length=1, description="Inverse regularisations tried inside."
    )
    min_class_size: int = Field(
        5, ge=1, description="Classes with fewer rows are merged into '(other)'."
    )
    max_rows: int = Field(
        20_000,
        ge=10,
        description="Rows scored at most: a seeded sample beyond it keeps big tables fast.",
    )


class MetadataPrediction(Benchmark):
    name = "metadata_prediction"
    Params = MetadataPredictionParams
    params: MetadataPredictionParams

    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        start = time.perf_counter()
        metadata = inputs.metadata
        if metadata is None:
            raise DataError("metadata_prediction needs data.metadata in the spec")
        p = self.params
        entity = p.entity or metadata.entity
        rows = {
            key: i
            for i, (e, key) in enumerate(zip(table.entities, table.keys, strict=True))
            if e == entity
        }
        frame = metadata.frame[metadata.frame["key"].isin(rows.keys())]
        if len(frame) < 2 * p.folds:
            raise DataError(
                f"metadata_prediction: only {len(frame)} {entity} keys of the table have "
                f"metadata; need at least {2 * p.folds}"
            )
        if len(frame) > p.max_rows:
            frame = frame.sample(n=p.max_rows, random_state=p.seed).sort_index()
        vectors = table.vectors[[rows[k] for k in frame["key"]]]
        columns = p.columns or [
            c for c in frame.columns if c != "key" and not is_numeric_dtype(frame[c])
        ]
        unknown = sorted(set(columns) - set(frame.columns))
        if unknown or not columns:
            raise DataError(
                f"metadata_prediction: no categorical column {unknown or ''} in data.metadata "
                f"(columns: {', '.join(c for c in frame.columns if c != 'key')})"
            )
        figures: list[Figure] = []
        with self._progress(progress).task("metadata prediction", total=len(columns)) as task:
            for column in columns:
                figures += self._column(vectors, frame[column].astype(str).to_numpy(), column)
                task.advance()
        elapsed = time.perf_counter() - start
        figures = [Figure(**{**f.__dict__, "run_time_s": elapsed}) for f in figures]
        return TaskResult(self.name, figures, elapsed, p.model_dump())

    def _column(self, vectors: np.ndarray, labels: np.ndarray, column: str) -> list[Figure]:
        p = self.params
        values, counts = np.unique(labels, return_counts=True)
        rare = set(values[counts < p.min_class_size])
        y = np.where(np.isin(labels, list(rare)), "(other)", labels)
        if len(np.unique(y)) < 2:
            raise DataError(f"metadata_prediction: column {column!r} has a single class")
        n_folds = min(p.folds, int(np.unique(y, return_counts=True)[1].min()))
        if n_folds < 2:
            raise DataError(f"metadata_prediction: column {column!r} has classes too small to fold")
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=p.seed)
        acc, f1, base_acc, base_f1 = [], [], [], []
        for train, test in folds.split(vectors, y):
            model = make_pipeline(
                StandardScaler(),
                LogisticRegressionCV(
                    Cs=p.Cs, cv=3, max_iter=500, scoring="accuracy", random_state=p.seed
                ),
            )
            with threadpool_limits(1), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                # scikit-learn >= 1.8 announces changed defaults; we pin what we rely on
                warnings.simplefilter("ignore", FutureWarning)
                model.fit(vectors[train], y[train])
            predicted = model.predict(vectors[test])
            classes, class_counts = np.unique(y[train], return_counts=True)
            majority = np.full(len(test), classes[np.argmax(class_counts)])
            acc.append(accuracy_score(y[test], predicted))
            f1.append(f1_score(y[test], predicted, average="macro", zero_division=0))
            base_acc.append(accuracy_score(y[test], majority))
            base_f1.append(f1_score(y[test], majority, average="macro", zero_division=0))
        gain = np.asarray(acc) - np.asarray(base_acc)
        stderr = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
        details = {
            "column": column,
            "folds": n_folds,
            "classes": len(np.unique(y)),
            "merged_rare_classes": sorted(rare),
            "accuracy_std": float(np.std(acc)),
            "gain_stderr": stderr,
            "beats_baseline": bool(gain.mean() > 2 * stderr),
        }
        name = re.sub(r"[^a-z0-9_]", "_", column.lower())
        common = {
            "baseline_name": "majority",
            "sample_size": len(y),
            "seed": p.seed,
            "details": details,
        }
        return [
            Figure(
                f"{self.name}.{name}_accuracy",
                float(np.mean(acc)),
                baseline=float(np.mean(base_acc)),
                **common,
            ),
            Figure(
                f"{self.name}.{name}_macro_f1",
                float(np.mean(f1)),
                baseline=float(np.mean(base_f1)),
                **common,
            ),
        ]
