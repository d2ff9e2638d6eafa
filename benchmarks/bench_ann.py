"""ANN indexes: embank's against the raw libraries and exact search, in one process.

Two tables: a synthetic clustered one (Gaussian clusters around random centres, each
spread over a low-dimensional random subspace, like real embeddings; not uniform random
vectors, on which no graph index beats a flat scan) and BlogCatalog's spectral embedding.
For each: exact search (embank's ExactIndex, faiss IndexFlatIP) gives the ground truth on
1,000 sampled rows (each query excludes itself, as ``neighbors(key)`` does); embank's
``build_index`` builds and tunes hnswlib to recall@10 >= 0.95; raw hnswlib and raw faiss
IndexHNSWFlat run with the same M, ef_construction and the ef embank chose; embank's
IVF-PQ is tuned the same way. Every method is timed in this process, under the same
thread limit, so compare the ratios within one run.

    python benchmarks/bench_ann.py                  # 1,000,000 x 128 + BlogCatalog
    python benchmarks/bench_ann.py --rows 100000    # quicker

The 1,000,000-row table takes 20-40 minutes on 2 busy cores: each HNSW build (embank,
raw hnswlib, raw faiss) takes several minutes, and IVF-PQ trains and encodes for a few.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from embank.ann import ExactIndex, GroundTruth, build_index, sample_queries
from embank.ann.checks import normalized

K = 10
N_QUERIES = 1000
LATENCY_QUERIES = 200
DEFAULT_DATA = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "blogcatalog"


@dataclass
class Row:
    method: str
    build_s: float | None
    setting: str
    recall: float
    qps: float
    p50_ms: float
    rss_mb: float | None
    file_mb: float | None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Resident memory of this process now, MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def clustered(
    n_rows: int,
    dim: int = 128,
    n_clusters: int = 1000,
    intrinsic: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Gaussian clusters: centre + N(0, 1) over a random ``intrinsic``-dim subspace of
    the cluster + N(0, 0.1^2) in every dimension."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    labels = rng.integers(0, n_clusters, n_rows)
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=n_clusters))
    out = np.empty((n_rows, dim), dtype=np.float32)
    start = 0
    for cluster, end in enumerate(ends):
        rows = order[start:end]
        start = end
        basis = rng.standard_normal((intrinsic, dim), dtype=np.float32) / np.sqrt(intrinsic)
        spread = rng.standard_normal((len(rows), intrinsic), dtype=np.float32) @ basis
        noise = 0.1 * rng.standard_normal((len(rows), dim), dtype=np.float32)
        out[rows] = centres[cluster] + spread + noise
    return out


def blogcatalog(data: Path) -> np.ndarray:
    """BlogCatalog's spectral embedding (embank's Spectral, dim 128, seed 0)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fit_spectral import load  # the benchmark's own loader

    from embank.algorithms.spectral import Spectral

    dataset, _ = load(data)
    return Spectral({"dim": 128, "seed": 0}).fit(dataset).embeddings.vectors


def best_batch_qps(search: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        search()
        times.append(time.perf_counter() - start)
    return N_QUERIES / min(times)


def p50_ms(search_one: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    times = []
    for query in queries[:LATENCY_QUERIES]:
        start = time.perf_counter()
        search_one(query[None, :])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def paired_overhead(index: object, queries: np.ndarray) -> tuple[float, float]:
    """(median ms of embank's search, median ms of the same graph's raw knn_query), one
    query per call on one thread, the two calls interleaved so load drifts hit both."""
    graph = index._graph  # type: ignore[attr-defined]
    calls = {
        "ours": lambda one: index.search(one, K),  # type: ignore[attr-defined]
        "raw": lambda one: graph.knn_query(one, k=K, num_threads=1),
    }
    times: dict[str, list[float]] = {"ours": [], "raw": []}
    for i, query in enumerate(queries[:LATENCY_QUERIES]):
        # Alternate which goes first: the second call on a query finds the graph in cache.
        for name in ("ours", "raw") if i % 2 else ("raw", "ours"):
            start = time.perf_counter()
            calls[name](query[None, :])
            times[name].append(time.perf_counter() - start)
    ours, raw = times["ours"], times["raw"]
    return float(np.median(ours) * 1000), float(np.median(raw) * 1000)


def drop_self(rows: np.ndarray, query_rows: np.ndarray) -> np.ndarray:
    """The first K rows of each query that are not the query's own row."""
    out = np.full((len(rows), K), -1, dtype=np.int64)
    for i, (found, own) in enumerate(zip(rows, query_rows, strict=True)):
        kept = found[(found != own) & (found >= 0)][:K]
        out[i, : len(kept)] = kept
    return out


def compare(name: str, vectors: np.ndarray, metric: str, args: argparse.Namespace) -> None:
    import faiss
    import hnswlib

    n_rows, dim = vectors.shape
    log(f"\n== {name}: {n_rows:,} x {dim}, {metric} ==")
    threads = args.threads
    faiss.omp_set_num_threads(threads)
    query_rows = sample_queries(n_rows, N_QUERIES, seed=0)
    queries = np.ascontiguousarray(vectors[query_rows])
    exact = ExactIndex(vectors, metric)
    start = time.perf_counter()
    truth = GroundTruth.compute(exact, queries, K, exclude=[{int(r)} for r in query_rows])
    log(f"  ground truth for {N_QUERIES} queries: {time.perf_counter() - start:.1f} s")
    rows: list[Row] = []
    notes: list[str] = []

    # -- exact flat scans ------------------------------------------------------------
    qps = best_batch_qps(lambda: exact.search(queries, K), repeats=2)
    lat = p50_ms(lambda q: exact.search(q, K), queries[:50])
    rows.append(Row("embank ExactIndex (numpy flat scan)", None, "", 1.0, qps, lat, None, None))
    flat_vectors = normalized(vectors) if metric == "cosine" else vectors
    flat_queries = normalized(queries) if metric == "cosine" else queries
    flat = faiss.IndexFlatIP(dim)
    flat.add(flat_vectors)
    del flat_vectors
    found = drop_self(flat.search(flat_queries, K + 1)[1], query_rows)
    qps = best_batch_qps(lambda: flat.search(flat_queries, K), repeats=2)
    lat = p50_ms(lambda q: flat.search(q, K), flat_queries[:50])
    rows.append(Row("faiss IndexFlatIP", None, "", truth.recall(found), qps, lat, None, None))
    flat.reset()  # frees its copy of the rows
    gc.collect()

    # -- embank's indexes -------------------------------------------------------------
    ours = None
    for kind in args.kinds:
        log(f"  embank {kind}: building and tuning to recall@10 >= {args.target}")
        before = rss_mb()
        index, report = build_index(
            vectors, metric, kind=kind, target_recall=args.target, n_threads=threads
        )
        grown = rss_mb() - before
        setting = f"{index.knob}={getattr(index, index.knob)}" if index.knob else ""
        log(f"    {report.to_dict()}")
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp) / "index")
            size = folder_mb(Path(tmp) / "index")
        found, _ = index.search(queries, K, exclude=[{int(r)} for r in query_rows])
        recall = truth.recall(found)
        qps = best_batch_qps(lambda index=index: index.search(queries, K))
        index.set_num_threads(1)
        lat = p50_ms(lambda q, index=index: index.search(q, K), queries)
        if kind == "hnswlib":
            ours_ms, raw_ms = paired_overhead(index, queries)
            notes.append(
                f"embank hnswlib's search against its own graph's knn_query, interleaved, "
                f"one query per call: p50 {ours_ms:.3f} ms against {raw_ms:.3f} ms "
                f"({(ours_ms - raw_ms) * 1000:.0f} us of checks and conversions)"
            )
        index.set_num_threads(threads)
        rows.append(Row(f"embank {kind}", report.build_s, setting, recall, qps, lat, grown, size))
        if kind == "hnswlib":
            ours = index.params
        del index
        gc.collect()

    # -- the raw libraries, with embank's hnswlib params ------------------------------
    if ours is not None:
        m, ef_construction, ef = ours["M"], ours["ef_construction"], ours["ef"]
        log(f"  raw hnswlib: M={m}, ef_construction={ef_construction}, ef={ef}")
        before = rss_mb()
        start = time.perf_counter()
        graph = hnswlib.Index(space="cosine" if metric == "cosine" else "ip", dim=dim)
        graph.init_index(n_rows, M=m, ef_construction=ef_construction, random_seed=0)
        graph.add_items(vectors, np.arange(n_rows), num_threads=threads)
        build_s = time.perf_counter() - start
        grown = rss_mb() - before
        graph.set_ef(ef)
        found = drop_self(graph.knn_query(queries, k=K + 1, num_threads=threads)[0], query_rows)
        qps = best_batch_qps(lambda: graph.knn_query(queries, k=K, num_threads=threads))
        lat = p50_ms(lambda q: graph.knn_query(q, k=K, num_threads=1), queries)
        with tempfile.TemporaryDirectory() as tmp:
            graph.save_index(str(Path(tmp) / "hnsw.bin"))
            size = folder_mb(Path(tmp))
        recall = truth.recall(found)
        rows.append(Row("raw hnswlib", build_s, f"ef={ef}", recall, qps, lat, grown, size))
        del graph
        gc.collect()

        log(f"  raw faiss IndexHNSWFlat: M={m}, efConstruction={ef_construction}, efSearch={ef}")
        rows_in = normalized(vectors) if metric == "cosine" else vectors
        flat_queries = normalized(queries) if metric == "cosine" else queries
        before = rss_mb()
        start = time.perf_counter()
        native = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        native.hnsw.efConstruction = ef_construction
        native.add(rows_in)
        build_s = time.perf_counter() - start
        grown = rss_mb() - before
        del rows_in
        native.hnsw.efSearch = ef
        found = drop_self(native.search(flat_queries, K + 1)[1], query_rows)
        qps = best_batch_qps(lambda: native.search(flat_queries, K))
        faiss.omp_set_num_threads(1)
        lat = p50_ms(lambda q: native.search(q, K), flat_queries)
        faiss.omp_set_num_threads(threads)
        with tempfile.TemporaryDirectory() as tmp:
            faiss.write_index(native, str(Path(tmp) / "faiss.index"))
            size = folder_mb(Path(tmp))
        recall = truth.recall(found)
        rows.append(
            Row("raw faiss IndexHNSWFlat", build_s, f"ef={ef}", recall, qps, lat, grown, size)
        )
        del native
        gc.collect()

    print_table(name, n_rows, dim, metric, rows)
    for note in notes:
        print(f"\n- {note}")


def print_table(name: str, n_rows: int, dim: int, metric: str, rows: list[Row]) -> None:
    base = next((r for r in rows if r.method == "embank hnswlib"), rows[0])
    print(f"\n### {name}: {n_rows:,} x {dim}, {metric}\n")
    print(
        "| method | build s | setting | recall@10 | queries/s (batch) | p50 ms/query "
        "| build RSS MiB | file MiB | build ratio | q/s ratio | p50 ratio |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        build = f"{r.build_s:.1f}" if r.build_s is not None else ""
        build_ratio = (
            f"{r.build_s / base.build_s:.2f}" if r.build_s is not None and base.build_s else ""
        )
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else ""
        size = f"{r.file_mb:.0f}" if r.file_mb is not None else ""
        print(
            f"| {r.method} | {build} | {r.setting} | {r.recall:.4f} | {r.qps:,.0f} "
            f"| {r.p50_ms:.3f} | {rss} | {size} | {build_ratio} | {r.qps / base.qps:.2f} "
            f"| {r.p50_ms / base.p50_ms:.2f} |"
        )
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic table")
    parser.add_argument("--dim", type=int, default=128, help="dimension of the synthetic table")
    parser.add_argument("--clusters", type=int, default=1000, help="clusters in it")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BlogCatalog folder")
    parser.add_argument("--skip-blogcatalog", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--kinds", default="hnswlib,ivfpq", help="embank kinds to build")
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 to tune to")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    args.kinds = [k for k in args.kinds.split(",") if k]

    print(
        f"embank ANN benchmark: {args.threads} threads, k={K}, {N_QUERIES} queries "
        f"(sampled rows, each excluding itself), recall target {args.target}"
    )
    with threadpool_limits(limits=args.threads):
        if not args.skip_synthetic:
            start = time.perf_counter()
            vectors = clustered(args.rows, args.dim, args.clusters)
            log(f"synthetic table: {time.perf_counter() - start:.1f} s")
            compare(f"clustered synthetic ({args.clusters:,} clusters)", vectors, "cosine", args)
            del vectors
            gc.collect()
        if not args.skip_blogcatalog:
            vectors = blogcatalog(args.data)
            for metric in ("cosine", "dot"):
                compare("BlogCatalog spectral", vectors, metric, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
