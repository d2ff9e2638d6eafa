"""ALS on MovieLens 100K: embank's ALS algorithm against calling ``implicit`` directly.

Both fit the same training matrix (examples/movielens.yaml's selection: ratings >= 4, a
per-user random 20 % held out, seed 0, as in tests/e2e/test_movielens_recommendation.py)
with the example's params, BM25
weighting included, BLAS limited to one thread in both (as ``implicit`` recommends) and
the same solver threads. Fits alternate, ``--repeats`` of each; the best and median wall
times are compared (time ratio = ours / direct). Both tables are scored by embank's
recommendation task (Recall@10, NDCG@10), beside the popularity baseline.

    python benchmarks/fit_als.py [--data DIR] [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits

from embank.algorithms.als import ALS, confidence_matrix
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.recommendation import Recommendation
from embank.data.graph import Dataset
from embank.data.interactions import Interactions
from embank.data.select import select
from embank.spec.load import load_spec
from embank.vector_table import VectorTable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".." / "shared" / "data"
EXAMPLE = ROOT / "examples" / "movielens.yaml"
# The example spec's pinned ALS params, so the benchmark measures what `embank run` fits.
PARAMS = load_spec(EXAMPLE, []).spec.algorithm.params


def load(data: Path) -> tuple[Interactions, pd.DataFrame]:
    """(training interactions, held-out pairs): the example spec's selection and split."""
    os.environ["EMBANK_DATA"] = str(data)
    spec = load_spec(EXAMPLE, []).spec
    dataset = select(spec.data, spec.select, EXAMPLE.parent, holdout=spec.holdout)
    return dataset.interactions, dataset.holdout


def fit_ours(interactions: Interactions, threads: int) -> VectorTable:
    algorithm = ALS({**PARAMS, "n_threads": threads})
    return algorithm.fit(Dataset(interactions=interactions)).embeddings


def fit_direct(interactions: Interactions, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """implicit's own recipe: BM25 on the item x user matrix, then ALS; (users, items)."""
    with threadpool_limits(1, "blas"):
        weights = bm25_weight(interactions.matrix.T, K1=PARAMS["bm25_k1"], B=PARAMS["bm25_b"])
        weights = weights.T.tocsr().astype(np.float32)
        model = AlternatingLeastSquares(
            factors=PARAMS["dim"],
            regularization=PARAMS["regularization"],
            alpha=PARAMS["alpha"],
            iterations=PARAMS["iterations"],
            num_threads=threads,
            random_state=PARAMS["seed"],
        )
        model.fit(weights, show_progress=False)
    return model.user_factors, model.item_factors


def fit_ours_table(interactions: Interactions, users: np.ndarray, items: np.ndarray) -> VectorTable:
    """The co-embedded table ALS builds from implicit's factors."""
    from embank.algorithms.als import _co_embedded_table

    return _co_embedded_table(interactions, users, items)


def _mean_s(work: Callable[[], object], repeats: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="solver threads; 0 = all")
    args = parser.parse_args(argv)

    interactions, holdout = load(args.data)
    print(
        f"MovieLens 100K: {interactions.n_src} users, {interactions.n_dst} items, "
        f"{interactions.nnz:,} training and {len(holdout):,} held-out positives; "
        f"params {PARAMS}, threads {args.threads}"
    )
    fit_direct(interactions, args.threads)  # warm-up: imports, caches, thread pools
    times: dict[str, list[float]] = {"embank ALS": [], "implicit direct": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = fit_ours(interactions, args.threads)
        times["embank ALS"].append(time.perf_counter() - start)
        start = time.perf_counter()
        users, items = fit_direct(interactions, args.threads)
        times["implicit direct"].append(time.perf_counter() - start)

    direct = VectorTable(
        np.array(["item"] * len(items) + ["user"] * len(users), dtype=object),
        np.concatenate([interactions.dst_keys, interactions.src_keys]),
        np.vstack([items, users]),
    )
    identical = np.array_equal(ours.vectors, direct.vectors)
    inputs = BenchmarkInputs(holdout=holdout, interactions=interactions)
    task = Recommendation({"k": [10]})
    start = time.perf_counter()
    scored = {"embank ALS": task.run(ours, inputs), "implicit direct": task.run(direct, inputs)}
    task_s = (time.perf_counter() - start) / 2

    best_direct = min(times["implicit direct"])
    median_direct = statistics.median(times["implicit direct"])
    print()
    print(
        "| method | best fit s | median fit s | best ratio | median ratio | Recall@10 | NDCG@10 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, runs in times.items():
        recall, ndcg = (f.value for f in scored[name].figures)
        print(
            f"| {name} | {min(runs):.3f} | {statistics.median(runs):.3f} | "
            f"{min(runs) / best_direct:.3f} | {statistics.median(runs) / median_direct:.3f} | "
            f"{recall:.4f} | {ndcg:.4f} |"
        )
    recall, ndcg = (f.baseline for f in scored["embank ALS"].figures)
    print(f"| popularity (baseline) | | | | | {recall:.4f} | {ndcg:.4f} |")
    print()
    print(f"factors bit-identical: {identical}; recommendation task run time {task_s:.3f} s")
    # The wall-time ratios above are at the mercy of other load; the work embank adds around
    # implicit's solver (validation, weighting, building the table) is timed on its own.
    ours_s = _mean_s(lambda: confidence_matrix(interactions.matrix, "bm25", 1.2, 0.75))
    ours_s += _mean_s(lambda: fit_ours_table(interactions, users, items))
    direct_s = _mean_s(lambda: bm25_weight(interactions.matrix.T, K1=1.2, B=0.75).T.tocsr())
    print(
        f"outside the solver: embank {ours_s * 1000:.1f} ms (weights + table), "
        f"direct {direct_s * 1000:.1f} ms (weights), "
        f"difference {(ours_s - direct_s) / median_direct:.2%} of the median direct fit"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
