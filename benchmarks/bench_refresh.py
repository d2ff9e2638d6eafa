"""Refresh: a warm start against a cold refit, and the cost of alignment and drift.

Part 1, per algorithm (spectral, node2vec, twhin on BlogCatalog; ALS, item2vec on
MovieLens 100K): a previous version is fitted cold on the older data (v1), then the newer
data (v2) is fitted cold and warm (``init_from(previous)``), and, as a control, v1 again
warm (unchanged data). Every v2 table is aligned onto the previous version and scored:
fit seconds (wall and process CPU), the quality figure (topic Macro-F1@50 on BlogCatalog,
2 splits; Recall@10 on MovieLens, the example's held-out users), and drift against the
previous version (median aligned cosine distance, median overlap@10).

- BlogCatalog v1: 2 % of the nodes left out (new keys in v2) and 10 % of the edges held
  back; v2: every node, v1's edges minus a random 5 % plus the held-back 10 %. For
  spectral also a day's change: v1 plus 1 % of the held-back edges among its nodes.
- MovieLens v1: the example spec's selection of ratings before the 90th percentile of
  their timestamps; v2: all of them (new users and items appear in v2).

Part 2: alignment and drift of ``--rows`` x 128 synthetic clustered vectors (default
1,000,000): a noisy rotated copy with 5 % of the keys dropped and 5 % added.

    python benchmarks/bench_refresh.py [--data DIR] [--only fits|scale] [--rows N]
        [--algorithms spectral,node2vec,twhin,als,item2vec] [--threads N]

Prints Markdown tables. Times are wall seconds on a machine that may be shared: compare
the ratios within one run. BLAS runs with ``--threads`` threads (default 1, as DESIGN.md's
workers do: on a busy 2-core machine 2 BLAS threads made a 65,536 x 128 Gram product 6x
slower than 1); node2vec and twhin use their own 2 threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from embank.algorithms import algorithms
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.recommendation import Recommendation
from embank.benchmarks.topic_prediction import TopicPrediction
from embank.data.graph import Dataset, Graph
from embank.data.select import select
from embank.refresh import align, drift, shared_rows, support_from_dataset
from embank.spec.load import load_spec
from embank.vector_table import VectorTable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".." / "shared" / "data"
EXAMPLES = ROOT / "examples"

# Settings of the docs and e2e tests; `warm` rows add the warm-only params.
GRAPH_RUNS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("spectral", {"dim": 128, "seed": 0}, {}),
    (
        "node2vec",
        {
            "dim": 128,
            "walks_per_node": 10,
            "walk_length": 80,
            "window": 10,
            "epochs": 2,
            "n_threads": 2,
            "seed": 0,
        },
        {"warm_epochs": 1},
    ),
    ("twhin", {"dim": 128, "epochs": 3, "n_threads": 2, "seed": 0}, {"warm_epochs": 1}),
]
INTERACTION_RUNS: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
    ("als", None, {}),  # None: the example spec's params
    ("item2vec", {"seed": 0}, {"warm_epochs": 5}),
]


# -- data -------------------------------------------------------------------------------


def blogcatalog(data: Path) -> tuple[Dataset, Dataset, Dataset]:
    """(v1, v2, v1 + 0.1 %) BlogCatalog graphs, as the module docstring says."""
    os.environ["EMBANK_DATA"] = str(data)
    loaded = load_spec(EXAMPLES / "blogcatalog.yaml", [])
    full = select(loaded.spec.data, loaded.spec.select, loaded.base_dir)
    graph = full.graph
    rng = np.random.default_rng(0)
    upper = sp.triu(graph.adjacency, k=1).tocoo()
    later = rng.random(upper.nnz) < 0.10
    removed = ~later & (rng.random(upper.nnz) < 0.05)

    def graph_of(edges: np.ndarray, nodes: np.ndarray) -> Graph:
        n = graph.n_nodes
        adjacency = sp.coo_matrix(
            (upper.data[edges], (upper.row[edges], upper.col[edges])), shape=(n, n)
        ).tocsr()
        adjacency = (adjacency + adjacency.T).tocsr()[nodes][:, nodes]
        return Graph(graph.entity, graph.index_to_key[nodes], adjacency.tocsr())

    kept_nodes = np.sort(rng.permutation(graph.n_nodes)[: int(0.98 * graph.n_nodes)])
    v1 = graph_of(~later, kept_nodes)
    v2 = graph_of(~removed, np.arange(graph.n_nodes))
    # a day's change: v1 and 1 % of the held-back edges between v1's nodes
    in_v1 = np.zeros(graph.n_nodes, dtype=bool)
    in_v1[kept_nodes] = True
    daily = later & in_v1[upper.row] & in_v1[upper.col] & (rng.random(upper.nnz) < 0.01)
    small = graph_of(~later | daily, kept_nodes)
    return tuple(dataclasses.replace(full, graph=g) for g in (v1, v2, small))  # type: ignore[return-value]


def movielens(data: Path) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """(v1, v2, ALS params of the example spec): v1 is the older 90 % of the ratings."""
    os.environ["EMBANK_DATA"] = str(data)
    frame = pd.read_csv(data / "movielens-100k" / "interactions.tsv.gz", sep="\t")
    cut = int(np.quantile(frame.loc[frame["rating"] >= 4, "timestamp"], 0.9))
    sql = (
        'SELECT "user" AS src, item AS dst, rating AS weight, "timestamp" AS ts FROM '
        "read_csv('${EMBANK_DATA:-../../shared/data}/movielens-100k/interactions.tsv.gz') "
        f'WHERE rating >= 4 AND "timestamp" < {cut}'
    )
    datasets = []
    for overrides in ([f"data.interactions.sql={sql}"], []):
        loaded = load_spec(EXAMPLES / "movielens.yaml", overrides)
        spec = loaded.spec
        datasets.append(select(spec.data, spec.select, loaded.base_dir, holdout=spec.holdout))
    params = dict(load_spec(EXAMPLES / "movielens.yaml", []).spec.algorithm.params)
    return datasets[0], datasets[1], {**params, "n_threads": 2}


# -- part 1 -----------------------------------------------------------------------------


def timed(fit: Callable[[], Any]) -> tuple[Any, float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fit()
    return result, time.perf_counter() - start, time.process_time() - start_cpu


def compare(
    name: str,
    params: dict[str, Any],
    warm_params: dict[str, Any],
    v1: Dataset,
    v2: Dataset,
    score: Callable[[VectorTable], float],
    small: Dataset | None = None,
) -> list[tuple[str, ...]]:
    """Rows of the fit table for one algorithm (``small``: v1 and a day's change)."""
    cls = algorithms.get(name)
    previous, prev_s, _ = timed(lambda: cls(params).fit(v1).embeddings)
    runs: list[tuple[str, dict[str, Any], Dataset, bool]] = [
        ("cold, v2", params, v2, False),
        ("warm, v2", params, v2, True),
    ]
    if warm_params:
        label = ", ".join(f"{k} {v}" for k, v in warm_params.items())
        runs.append((f"warm ({label}), v2", {**params, **warm_params}, v2, True))
    runs.append(("warm, v1 unchanged", params, v1, True))
    if small is not None:
        n_new = (small.graph.n_edges - v1.graph.n_edges) // 2
        runs.append((f"cold, v1 + {n_new} edges", params, small, False))
        runs.append((f"warm, v1 + {n_new} edges", params, small, True))
    rows = []
    for label, run_params, data, warm in runs:
        algorithm = cls(run_params)
        if warm:
            algorithm.init_from(previous)
        fitted, wall_s, cpu_s = timed(lambda a=algorithm, d=data: a.fit(d))
        table = fitted.embeddings
        aligned, _ = align(table, previous, support_from_dataset(data, table))
        report = drift(previous, aligned, support_from_dataset(data, aligned))
        quality = f"{score(aligned):.4f}" if data is v2 else ""
        info = getattr(fitted, "warm_start_", None) or {}
        detail = ", ".join(f"{k} {info[k]}" for k in ("solver", "iterations") if k in info)
        rows.append(
            (
                name,
                label,
                f"{wall_s:.1f}",
                f"{cpu_s:.1f}",
                quality,
                f"{report['drift.cosine_distance.median']:.4f}",
                f"{report['drift.overlap_at_10.median']:.2f}",
                detail,
            )
        )
        print(f"  {name} {label}: {wall_s:.1f} s {detail}", file=sys.stderr, flush=True)
    print(f"  {name} previous (cold, v1): {prev_s:.1f} s", file=sys.stderr, flush=True)
    return rows


def part_fits(data: Path, only: set[str]) -> None:
    rows: list[tuple[str, ...]] = []
    if only & {"spectral", "node2vec", "twhin"}:
        v1, v2, small = blogcatalog(data)
        print(
            f"BlogCatalog v1 {v1.graph.n_nodes:,} nodes / {v1.graph.n_edges // 2:,} edges, "
            f"v2 {v2.graph.n_nodes:,} / {v2.graph.n_edges // 2:,}",
            file=sys.stderr,
        )
        topic = TopicPrediction({"train_ratios": [0.5], "splits": 2})
        inputs = BenchmarkInputs(labels=v2.labels, graph=v2.graph)

        def macro_f1(table: VectorTable) -> float:
            figures = {f.name: f.value for f in topic.run(table, inputs).figures}
            return figures["topic_prediction.macro_f1_at_50"]

        for name, params, warm_params in GRAPH_RUNS:
            if name in only:
                daily = small if name == "spectral" else None  # the solver depends on it
                rows += compare(name, params, warm_params, v1, v2, macro_f1, daily)
    if only & {"als", "item2vec"}:
        v1, v2, als_params = movielens(data)
        inter1, inter2 = v1.interactions, v2.interactions
        print(
            f"MovieLens v1 {inter1.n_src} users x {inter1.n_dst} items / {inter1.nnz:,}, "
            f"v2 {inter2.n_src} x {inter2.n_dst} / {inter2.nnz:,}",
            file=sys.stderr,
        )
        inputs = BenchmarkInputs(holdout=v2.holdout, interactions=inter2)

        def recall(table: VectorTable) -> float:
            task = Recommendation({"k": [10]})
            return task.run(table.sorted(), inputs).figures[0].value

        for name, params, warm_params in INTERACTION_RUNS:
            if name in only:
                rows += compare(name, params or als_params, warm_params, v1, v2, recall)
    print(
        "\n| algorithm | fit | wall s | CPU s | quality | cosine distance | overlap@10 "
        "| warm solver |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


# -- part 2 -----------------------------------------------------------------------------


def part_scale(n_rows: int, dim: int = 128) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    previous_vectors = centres[rng.integers(1000, size=n_rows)]
    previous_vectors += 0.5 * rng.standard_normal((n_rows, dim), dtype=np.float32)
    keys = np.array([f"k{i}" for i in range(n_rows)], dtype=object)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    new_vectors = previous_vectors @ rotation.astype(np.float32)
    new_vectors += 0.1 * rng.standard_normal((n_rows, dim), dtype=np.float32)
    n_turn = n_rows // 20
    new_keys = keys.copy()
    new_keys[:n_turn] = [f"new{i}" for i in range(n_turn)]  # 5 % dropped, 5 % added
    previous = VectorTable.single_entity("node", keys, previous_vectors)
    new = VectorTable.single_entity("node", new_keys, new_vectors)
    support = rng.zipf(1.6, n_rows).astype(np.float64)
    del previous_vectors, new_vectors
    timings = {}
    _, timings["match keys (shared_rows)"], _ = timed(lambda: shared_rows(previous, new))
    (aligned, alignment), timings["align (fit + rotate)"], _ = timed(
        lambda: align(new, previous, support)
    )
    report, timings["drift (all figures)"], _ = timed(lambda: drift(previous, aligned, support))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"\n{n_rows:,} x {dim} float32, 5 % of keys dropped and 5 % added, "
        f"{alignment.n_keys:,} keys with support >= 50 anchor the rotation; "
        f"residual {alignment.residual_before:.3f} -> {alignment.residual_after:.3f}; "
        f"peak RSS of the process {peak_gib:.1f} GiB (the two tables alone: "
        f"{2 * n_rows * dim * 4 / 2**30:.1f} GiB)\n"
    )
    print("| step | wall s |")
    print("| --- | ---: |")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.1f} |")
    for part, seconds in report.timings_s.items():
        print(f"| drift: {part} | {seconds:.1f} |")
    print(
        f"\noverlap@10 median {report['drift.overlap_at_10.median']:.2f} "
        f"({report['drift.overlap_at_10.n_queries']} queries), cosine distance median "
        f"{report['drift.cosine_distance.median']:.4f}, eigenspace overlap "
        f"{report['drift.eigenspace_overlap']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--only", choices=["fits", "scale"], help="run one part only")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of part 2")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--algorithms",
        default="spectral,node2vec,twhin,als,item2vec",
        help="comma-separated algorithms of part 1",
    )
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads, "blas"):
        if args.only != "scale":
            part_fits(args.data.resolve(), set(args.algorithms.split(",")))
        if args.only != "fits":
            part_scale(args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
