"""``Embedding.neighbors()`` through a version's saved index, against the raw libraries.

The table is published into a scratch bank and ``build_version_index`` builds, tunes
(recall@10 >= 0.95) and stores its hnswlib index; a fresh ``bank.get`` then loads it
from the bank as every reader does. Each query is a sampled row's key, excluding itself
(as ``neighbors(key)`` does). Compared on the same queries, one query per call on one
thread (what a serving request does), alternating which runs first:

- ``neighbors(key, k=10)``: key -> row, the row's vector, the saved graph with one row
  excluded, ``Neighbor`` objects;
- raw hnswlib: ``knn_query(vector, k=11)`` on the same graph file (loaded by hnswlib
  itself) at the same ef, the own row dropped: the same recall by construction;
- raw faiss ``IndexHNSWFlat``, same M, ef_construction and ef, built here (its recall
  differs a little; it is printed).

Recall@10 of each is against exact search. Ratio = our queries/s over the raw one.

    python benchmarks/bench_neighbors.py                      # BlogCatalog + 100,000 x 128
    python benchmarks/bench_neighbors.py --skip-synthetic
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ann import DEFAULT_DATA, blogcatalog, clustered

import embank
from embank.ann.search import search_version
from embank.ann.stored import build_version_index
from embank.vector_table import VectorTable

K = 10


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compare(name: str, vectors: np.ndarray, metric: str, n_queries: int, threads: int) -> None:
    import faiss
    import hnswlib

    n_rows, dim = vectors.shape
    keys = np.array([f"k{i}" for i in range(n_rows)], dtype=object)
    with tempfile.TemporaryDirectory() as scratch:
        bank = embank.open(Path(scratch) / "bank")
        table = VectorTable(np.array(["node"] * n_rows, dtype=object), keys, vectors)
        bank.publish("bench/table", table, metric=metric)
        log(f"{name}: building and tuning the saved index")
        meta = build_version_index(bank, bank.get("bench/table"), kind="hnswlib", n_threads=threads)
        report = meta["entities"]["node"]["report"]
        ef, params = report["ef"], report["params"]
        embedding = bank.get("bench/table")  # loads the saved index, as a reader does
        saved = embedding.saved_index().ann("node")
        # our rows are sorted by key: query by row, map keys back to rows
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(n_rows, n_queries, replace=False))
        query_keys = [embedding.keys[r] for r in rows]
        matrix = np.asarray(embedding.to_numpy(), dtype=np.float32)
        queries = matrix[rows]
        exact, _ = search_version(
            embedding, queries, K, "node", [{int(r)} for r in rows], exact=True
        )
        truth = [set(e.tolist()) for e in exact]

        space = "cosine" if metric == "cosine" else "ip"
        raw = hnswlib.Index(space=space, dim=dim)
        folder = next((bank.root / "indexes").rglob("hnsw.bin"))
        raw.load_index(str(folder))
        raw.set_ef(ef)
        raw.set_num_threads(1)
        saved.set_num_threads(1)
        with threadpool_limits(limits=threads):
            fa = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
            fa.hnsw.efConstruction = params["ef_construction"]
            base = (
                matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
                if metric == "cosine"
                else matrix
            )
            fa.add(np.ascontiguousarray(base))
        fa.hnsw.efSearch = ef
        faiss.omp_set_num_threads(1)
        fq = base[rows]

        key_to_row = {k: i for i, k in enumerate(embedding.keys)}
        found = {"ours": [], "hnswlib": [], "faiss": []}
        times = {"ours": [], "hnswlib": [], "faiss": []}

        def ours(i: int) -> list[int]:
            return [key_to_row[n.key] for n in embedding.neighbors(query_keys[i], k=K)]

        def raw_hnsw(i: int) -> list[int]:
            labels, _ = raw.knn_query(queries[i : i + 1], k=K + 1, num_threads=1)
            return [int(r) for r in labels[0] if r != rows[i]][:K]

        def raw_faiss(i: int) -> list[int]:
            _, labels = fa.search(fq[i : i + 1], K + 1)
            return [int(r) for r in labels[0] if r != rows[i]][:K]

        calls = {"ours": ours, "hnswlib": raw_hnsw, "faiss": raw_faiss}
        for i in range(n_queries):
            order = list(calls) if i % 2 else list(reversed(calls))
            for method in order:
                start = time.perf_counter()
                answer = calls[method](i)
                times[method].append(time.perf_counter() - start)
                found[method].append(answer)
        bank.close()

    print(f"\n### {name}: {n_rows:,} x {dim}, {metric}, hnswlib M {params['M']}, ef {ef}\n")
    print("| method | recall@10 | queries/s (1 per call) | p50 ms | p99 ms | q/s ratio ours/raw |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ours_qps = n_queries / sum(times["ours"])
    for method, label in (
        ("ours", "embank `neighbors(key)` (saved index)"),
        ("hnswlib", "raw hnswlib knn_query, same graph"),
        ("faiss", "raw faiss IndexHNSWFlat"),
    ):
        recall = np.mean([len(set(f) & t) / K for f, t in zip(found[method], truth, strict=True)])
        qps = n_queries / sum(times[method])
        ms = np.asarray(times[method]) * 1000
        ratio = "1.00" if method == "ours" else f"{ours_qps / qps:.2f}"
        print(
            f"| {label} | {recall:.4f} | {qps:,.0f} | {np.median(ms):.3f} | "
            f"{np.percentile(ms, 99):.3f} | {ratio} |"
        )
    print(f"\nstored report: recall@10 {report['recall_at_10']}, tuned ef {ef}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic table")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-blogcatalog", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if not args.skip_blogcatalog:
        vectors = blogcatalog(args.data)
        compare("BlogCatalog spectral", vectors, "cosine", args.queries, args.threads)
    if not args.skip_synthetic:
        vectors = clustered(args.rows, args.dim, n_clusters=max(10, args.rows // 1000))
        compare("clustered synthetic", vectors, "cosine", args.queries, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
