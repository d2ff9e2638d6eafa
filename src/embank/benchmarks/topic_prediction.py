"""Topic prediction: one-vs-rest logistic regression from embedding to (multi-)label topics.

As in the DeepWalk and node2vec papers: for each train ratio and seeded random split,
fit one logistic regression per topic on the train rows (features standardised on the
train split), give each test row its true number of topics, the top-scored ones, and
report Macro-F1 and Micro-F1, the mean over splits. Random Gaussian vectors of the same
shape, scored the same way, are the trivial baseline.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from pydantic import Field, field_validator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from embank.benchmarks.base import (
    Benchmark,
    BenchmarkInputs,
    BenchmarkParams,
    Figure,
    TaskResult,
)
from embank.data.graph import Labels
from embank.errors import DataError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["TopicPrediction", "score_split"]


class TopicPredictionParams(BenchmarkParams):
    train_ratios: list[float] = Field(
        [0.1, 0.5, 0.9], min_length=1, description="Fractions of labelled rows to train on."
    )
    splits: int = Field(
        5, ge=1, description="Seeded random splits per ratio; the figure is the mean."
    )
    C: float = Field(1.0, gt=0, description="Inverse L2 regularisation of the logistic regression.")
    n_jobs: int = Field(2, description="Worker processes for the fits; -1 = all cores.")
    baseline: bool = Field(
        True, description="Also score random Gaussian vectors of the same shape (seeded)."
    )
    max_rows: int = Field(
        20_000,
        ge=10,
        description="Labelled rows scored at most (a seeded sample beyond it).",
    )

    @field_validator("train_ratios")
    @classmethod
    def _ratios_in_open_unit_interval(cls, ratios: list[float]) -> list[float]:
        if any(not 0.0 < r < 1.0 for r in ratios):
            raise ValueError(f"every train ratio must be in (0, 1), got {ratios}")
        if len({round(r * 100) for r in ratios}) < len(ratios):
            raise ValueError(f"train ratios must differ in whole percents, got {ratios}")
        return ratios

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs_not_zero(cls, n_jobs: int) -> int:
        if n_jobs == 0 or n_jobs < -1:
            raise ValueError("n_jobs must be a positive number of processes, or -1 for all cores")
        return n_jobs


def split_indices(n_rows: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random (train, test) split of ``range(n_rows)``; both sides non-empty."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_train = min(max(round(ratio * n_rows), 1), n_rows - 1)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def score_split(
    vectors: np.ndarray, y: np.ndarray, ratio: float, seed: int, C: float
) -> tuple[float, float]:
    """(Macro-F1, Micro-F1) of one seeded split; ``y`` is the n x n_labels 0/1 matrix.

    A topic with no positive train row scores -inf (never predicted), one with only
    positive train rows +inf (always predicted first). BLAS runs on one thread.
    """
    train, test = split_indices(len(y), ratio, seed)
    with threadpool_limits(1), warnings.catch_warnings():
        # lbfgs on standardised features converges in practice; a rare miss is harmless.
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaler = StandardScaler().fit(vectors[train])
        x_train, x_test = scaler.transform(vectors[train]), scaler.transform(vectors[test])
        scores = np.empty((len(test), y.shape[1]))
        for j in range(y.shape[1]):
            positives = int(y[train, j].sum())
            if positives == 0 or positives == len(train):
                scores[:, j] = -np.inf if positives == 0 else np.inf
                continue
            model = LogisticRegression(C=C, solver="lbfgs").fit(x_train, y[train, j])
            scores[:, j] = model.decision_function(x_test)
    y_test = y[test]
    # Each test row gets its true number of topics: the top-scored ones.
    ranks = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1, kind="stable")
    predicted = (ranks < y_test.sum(axis=1, keepdims=True)).astype(np.int8)
    macro = f1_score(y_test, predicted, average="macro", zero_division=0)
    micro = f1_score(y_test, predicted, average="micro", zero_division=0)
    return float(macro), float(micro)


def _labelled_rows(table: VectorTable, labels: Labels) -> tuple[np.ndarray, np.ndarray, int]:
    """(row indices, 0/1 label matrix, labelled keys missing from the table).

    Rows follow the labelled keys in sorted order, columns the sorted topics those rows
    carry; vectorised, so a million labelled keys take a second, not a minute.
    """
    pairs = labels.pairs.drop_duplicates(["key", "label"])
    keys = np.sort(pairs["key"].unique().astype(str))
    of_entity = np.flatnonzero(table.entities == labels.entity)
    position = pd.Index(table.keys[of_entity].astype(str)).get_indexer(keys)
    present = position >= 0
    key_index = pd.Index(keys[present])
    kept = pairs[pairs["key"].astype(str).isin(key_index)]
    topics = np.sort(kept["label"].unique().astype(str))
    y = np.zeros((len(key_index), len(topics)), dtype=np.int8)
    y[
        key_index.get_indexer(kept["key"].astype(str)),
        pd.Index(topics).get_indexer(kept["label"].astype(str)),
    ] = 1
    rows = of_entity[position[present]].astype(np.int64)
    return rows, y, int((~present).sum())


class TopicPrediction(Benchmark):
    """Macro-F1 and Micro-F1 of one-vs-rest logistic regression at each train ratio."""

    name = "topic_prediction"
    Params = TopicPredictionParams
    params: TopicPredictionParams

    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        start = time.perf_counter()
        p = self.params
        if inputs.labels is None:
            raise DataError("topic_prediction needs data.labels in the spec")
        rows, y, n_missing = _labelled_rows(table, inputs.labels)
        if len(rows) < 2 or y.shape[1] < 2:
            raise DataError(
                f"topic_prediction needs at least 2 labelled rows and 2 distinct labels of "
                f"entity {inputs.labels.entity!r} in the table; found {len(rows)} rows and "
                f"{y.shape[1]} labels ({n_missing} labelled keys are not in the table)"
            )
        n_labelled = len(rows)
        if n_labelled > p.max_rows:
            sample = np.sort(np.random.default_rng(p.seed).choice(n_labelled, p.max_rows, False))
            rows, y = rows[sample], y[sample]
            y = y[:, y.sum(axis=0) > 0]  # topics the sample still holds
        vectors = table.vectors[rows]
        sources = {"embedding": vectors}
        if p.baseline:
            rng = np.random.default_rng(p.seed)
            sources["random"] = rng.standard_normal(vectors.shape).astype(np.float32)
        jobs = [
            (s, r, k) for s in sources for r in range(len(p.train_ratios)) for k in range(p.splits)
        ]
        # Longest first, so no worker is left with a big fit at the end (random ones are quick).
        jobs.sort(key=lambda job: -p.train_ratios[job[1]] * (1.0 if job[0] == "embedding" else 0.3))
        # f1[source][ratio index, split, (macro, micro)]
        f1 = {s: np.empty((len(p.train_ratios), p.splits, 2)) for s in sources}
        calls = (
            delayed(score_split)(sources[s], y, p.train_ratios[r], p.seed + k, p.C)
            for s, r, k in jobs
        )
        with self._progress(progress).task("topic prediction", total=len(jobs)) as task:
            parallel = Parallel(n_jobs=p.n_jobs, backend="loky", return_as="generator")
            for (s, r, k), scores in zip(jobs, parallel(calls), strict=True):
                f1[s][r, k] = scores
                task.advance()
        run_time_s = time.perf_counter() - start

        figures = []
        for r, ratio in enumerate(p.train_ratios):
            for m, metric in enumerate(("macro_f1", "micro_f1")):
                values = f1["embedding"][r, :, m]
                details: dict[str, Any] = {
                    "std": float(values.std()),
                    "splits": p.splits,
                    "train_ratio": ratio,
                    "n_labels": int(y.shape[1]),
                    "n_missing_keys": n_missing,
                    "n_labelled_rows": n_labelled,
                }
                figures.append(
                    Figure(
                        name=f"{self.name}.{metric}_at_{round(ratio * 100)}",
                        value=float(values.mean()),
                        baseline=float(f1["random"][r, :, m].mean()) if p.baseline else None,
                        baseline_name="random" if p.baseline else None,
                        sample_size=len(rows),
                        seed=p.seed,
                        run_time_s=run_time_s,
                        details=details,
                    )
                )
        return TaskResult(
            task=self.name, figures=figures, run_time_s=run_time_s, params=p.model_dump()
        )
