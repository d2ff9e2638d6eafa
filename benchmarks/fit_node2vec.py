"""node2vec on BlogCatalog: embank's walks and skip-gram against pecanpy + gensim, in one process.

Same settings for both: 10 walks per node of 80 nodes, window 10, dim 128, 5 negatives,
the same epochs (1 unless ``--epochs``) and thread count. Each stage is timed (wall and
process CPU time) and the vectors are scored by embank's topic prediction (Macro-F1 and
Micro-F1 with 50% of the nodes for training, 5 splits). pecanpy pins numpy<2, so run this
from the peer venv that ``benchmarks/requirements-peers.txt`` describes; without pecanpy
the peer rows are left out.

    /tmp/peers/bin/python benchmarks/fit_node2vec.py [--p 1 --q 1] [--epochs 1] [--threads 2]
        [--ours-epochs 2]
    /tmp/peers/bin/python benchmarks/fit_node2vec.py --grid [--values 0.25 1 4] [--epochs 2]
        [--vectors input|sum]

pecanpy runs ``FirstOrderUnweighted`` (its fast path) at p = q = 1 on an unweighted graph
and ``SparseOTF`` (its default) otherwise; its ``PreComp`` mode would need about 3 GB here
(sum of squared degrees: 369 million alias entries). gensim runs as pecanpy's ``embed``
calls it: ``Word2Vec(walks, vector_size=128, window=10, sg=1, min_count=0, workers=N,
epochs=E)``, all else default (negative 5, sample 1e-3, alpha 0.025). Ours runs with its
defaults (negative 5, no subsampling, learning rate 0.025). JIT compilation is left out
of both: our kernels are loaded from numba's cache on a tiny graph first, and pecanpy,
which compiles its walk kernel anew for every graph, walks twice and the second call is
the one timed (the first is printed too).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from embank.algorithms.node2vec import Node2Vec
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.topic_prediction import TopicPrediction
from embank.data.graph import Dataset, Graph
from embank.data.select import select
from embank.progress import NullProgress
from embank.spec.load import load_spec
from embank.vector_table import VectorTable

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "examples" / "blogcatalog.yaml"
SETTINGS = {"dim": 128, "walks_per_node": 10, "walk_length": 80, "window": 10}


def load(data_dir: Path | None) -> Dataset:
    """BlogCatalog through the real selection of examples/blogcatalog.yaml."""
    if data_dir is not None:
        os.environ["EMBANK_DATA"] = str(data_dir)
    loaded = load_spec(SPEC)
    return select(loaded.spec.data, loaded.spec.select, loaded.base_dir, NullProgress())


def score(graph: Graph, dataset: Dataset, vectors: np.ndarray) -> tuple[float, float]:
    """(Macro-F1, Micro-F1) at 50% training nodes, mean of 5 splits."""
    table = VectorTable.single_entity(graph.entity, graph.index_to_key, vectors)
    result = TopicPrediction({"train_ratios": [0.5], "splits": 5, "baseline": False}).run(
        table, BenchmarkInputs(labels=dataset.labels)
    )
    figures = {f.name: f.value for f in result.figures}
    return (
        figures["topic_prediction.macro_f1_at_50"],
        figures["topic_prediction.micro_f1_at_50"],
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall s, process CPU s)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - start_cpu


def run_ours(dataset: Dataset, p: float, q: float, threads: int, **extra: Any) -> dict[str, Any]:
    params = {**SETTINGS, "p": p, "q": q, "n_threads": threads, "seed": 0, **extra}
    algo = Node2Vec(params)
    _, wall, cpu = timed(lambda: algo.fit(dataset))
    t = algo.timings_s_
    return {
        "walks": (t["walks"], t["walks_cpu"]),
        "training": (t["training"], t["training_cpu"]),
        "total": (wall, cpu),
        "vectors": algo.embeddings.vectors,
    }


def run_pecanpy(graph: Graph, p: float, q: float, threads: int, epochs: int) -> dict[str, Any]:
    from gensim.models import Word2Vec
    from pecanpy import pecanpy

    adjacency = sp.csr_matrix(graph.adjacency, dtype=np.float32)
    adjacency.sort_indices()
    unweighted = bool(np.all(adjacency.data == 1))
    mode = pecanpy.FirstOrderUnweighted if p == q == 1 and unweighted else pecanpy.SparseOTF

    def make(matrix: sp.csr_matrix) -> Any:
        g = mode(p=p, q=q, workers=threads, random_state=0)
        g.set_node_ids([str(i) for i in range(matrix.shape[0])])
        g.indptr = matrix.indptr.astype(np.uint32)
        g.indices = matrix.indices.astype(np.uint32)
        g.data = matrix.data.astype(np.float32)
        return g

    g = make(adjacency)
    walks, first_wall, first_cpu = timed(lambda: g.simulate_walks(10, 80))
    walks, walk_wall, walk_cpu = timed(lambda: g.simulate_walks(10, 80))
    model, train_wall, train_cpu = timed(
        lambda: Word2Vec(
            walks,
            vector_size=128,
            window=10,
            sg=1,
            min_count=0,
            workers=threads,
            epochs=epochs,
            seed=0,
        )
    )
    return {
        "mode": mode.__name__,
        "walks (first call, JIT)": (first_wall, first_cpu),
        "walks": (walk_wall, walk_cpu),
        "training": (train_wall, train_cpu),
        "total": (walk_wall + train_wall, walk_cpu + train_cpu),
        "vectors": model.wv[[str(i) for i in range(graph.n_nodes)]],
    }


def warm_up(threads: int) -> None:
    """Load (or compile) the JIT code of both sides on a tiny graph."""
    ring = sp.csr_matrix(np.roll(np.eye(20), 1, axis=1) + np.roll(np.eye(20), -1, axis=1))
    keys = np.array([f"{i:02d}" for i in range(20)], dtype=object)
    tiny = Dataset(graph=Graph("node", keys, ring))
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        Node2Vec({"dim": 8, "walks_per_node": 2, "walk_length": 5, "p": p, "q": q}).fit(tiny)
        Node2Vec({"dim": 8, "walks_per_node": 1, "walk_length": 5, "n_threads": threads}).fit(tiny)


def grid(dataset: Dataset, values: list[float], threads: int, epochs: int, vectors: str) -> None:
    graph = dataset.graph
    print(
        f"p, q grid on BlogCatalog with embank node2vec, {epochs} epoch(s), vectors {vectors}, "
        f"{threads} threads, seed 0\n"
    )
    print("| p | q | walks s | training s | Macro-F1@50% | Micro-F1@50% |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for p, q in itertools.product(values, values):
        row = run_ours(dataset, p, q, threads, epochs=epochs, vectors=vectors)
        macro, micro = score(graph, dataset, row["vectors"])
        print(
            f"| {p:g} | {q:g} | {row['walks'][0]:.1f} | {row['training'][0]:.1f} "
            f"| {macro:.4f} | {micro:.4f} |",
            flush=True,
        )


def compare(
    dataset: Dataset, p: float, q: float, threads: int, epochs: int, ours_epochs: int
) -> None:
    graph = dataset.graph
    rows: list[tuple[str, dict[str, Any]]] = []
    ours = run_ours(dataset, p, q, threads, epochs=ours_epochs)
    rows.append((f"embank node2vec (numba), {ours_epochs} epoch(s)", ours))
    print(f"  ours: {fmt_times(ours)}", file=sys.stderr, flush=True)
    try:
        peer = run_pecanpy(graph, p, q, threads, epochs)
    except ImportError as exc:
        print(f"  pecanpy + gensim left out: {exc}", file=sys.stderr)
        peer = None
    if peer is not None:
        rows.append((f"pecanpy {peer['mode']} + gensim, {epochs} epoch(s)", peer))
        print(f"  peer: {fmt_times(peer)}", file=sys.stderr, flush=True)
    # The number of steps is the same for any p, q (walks stop only at dead ends).
    n_steps = int((Node2Vec(SETTINGS).walks(graph.adjacency) >= 0).sum())

    print(
        f"\nBlogCatalog: {graph.n_nodes:,} nodes, {graph.n_edges // 2:,} edges; p={p:g}, q={q:g}; "
        f"10 walks x 80 per node ({n_steps:,} steps), window 10, dim 128, "
        f"{threads} threads. Times: wall s (process CPU s).\n"
    )
    print(
        "| method | walks s | walk rate (M steps/s) | training s | total s "
        "| Macro-F1@50% | Micro-F1@50% |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    figures = {}
    for name, row in rows:
        macro, micro = score(graph, dataset, row["vectors"])
        figures[name] = macro
        walk_wall, walk_cpu = row["walks"]
        print(
            f"| {name} | {walk_wall:.2f} ({walk_cpu:.2f}) | {n_steps / walk_wall / 1e6:.1f} "
            f"| {row['training'][0]:.1f} ({row['training'][1]:.1f}) "
            f"| {row['total'][0]:.1f} ({row['total'][1]:.1f}) | {macro:.4f} | {micro:.4f} |"
        )
    if peer is None:
        return
    first_wall, _ = peer["walks (first call, JIT)"]
    print(f"\npecanpy's first walk call on this graph (JIT compile included): {first_wall:.2f} s")
    print("\n| speed-up of ours (pecanpy + gensim time / ours) | wall | CPU |")
    print("| --- | ---: | ---: |")
    for stage in ("walks", "training", "total"):
        print(
            f"| {stage} | {peer[stage][0] / ours[stage][0]:.2f} "
            f"| {peer[stage][1] / ours[stage][1]:.2f} |"
        )
    ours_f1, peer_f1 = figures.values()
    print(f"\nMacro-F1 ours - pecanpy + gensim: {ours_f1 - peer_f1:+.4f}")


def fmt_times(row: dict[str, Any]) -> str:
    return ", ".join(
        f"{stage} {wall:.1f} s (CPU {cpu:.1f})"
        for stage, value in row.items()
        if isinstance(value, tuple)
        for wall, cpu in [value]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument("--threads", type=int, default=2, help="threads for every method")
    parser.add_argument("--p", type=float, default=1.0, help="return parameter")
    parser.add_argument("--q", type=float, default=1.0, help="in-out parameter")
    parser.add_argument("--epochs", type=int, default=1, help="skip-gram epochs, both sides")
    parser.add_argument(
        "--ours-epochs", type=int, default=None, help="epochs for ours only (default: --epochs)"
    )
    parser.add_argument(
        "--vectors", default="input", choices=["input", "sum"], help="grid: which vectors"
    )
    parser.add_argument("--grid", action="store_true", help="score ours over a p, q grid")
    parser.add_argument(
        "--values", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="grid values"
    )
    args = parser.parse_args(argv)
    dataset = load(args.data)
    warm_up(args.threads)
    if args.grid:
        grid(dataset, args.values, args.threads, args.epochs, args.vectors)
    else:
        ours_epochs = args.ours_epochs or args.epochs
        compare(dataset, args.p, args.q, args.threads, args.epochs, ours_epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
