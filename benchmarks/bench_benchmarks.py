"""How long each benchmark task takes: on the real sets, and on a 1M-node synthetic graph.

Every task samples (topic and metadata prediction at most ``max_rows`` rows, follow_jaccard
``n_users`` users, link_prediction ``max_edges`` held-out edges, recommendation
``max_users`` users), so its time should stay under a minute on 2 cores however big the
table. This script times each task with its default params on:

- BlogCatalog (10,312 nodes): spectral vectors (dim 128) fitted on 90 % of the edges;
  topic_prediction, follow_jaccard, link_prediction.
- MovieLens 100K: the example spec's ALS table; recommendation, metadata_prediction.
- A synthetic social graph of ``--nodes`` nodes (default 1,000,000; heavy-tailed degrees,
  50 planted communities, 10 % of edges held out by selection) with vectors drawn around
  each node's community centroids (dim 64; fitting is not what is measured here), labels
  = communities, and metadata (a categorical column that follows the community, noisily);
  topic_prediction, metadata_prediction, follow_jaccard, link_prediction. And a synthetic
  co-embedded table of the same number of users and 50,000 items for recommendation.

    python benchmarks/bench_benchmarks.py [--data DIR] [--nodes N] [--only real|synthetic]

Prints one Markdown table: data set, task, rows, what was sampled, seconds, headline
figure beside its baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embank.algorithms import algorithms
from embank.benchmarks import BenchmarkInputs, TaskResult, benchmarks
from embank.data.attributes import Metadata
from embank.data.graph import Labels
from embank.data.select import select
from embank.quickstart import make_social_graph
from embank.spec.load import load_spec
from embank.spec.models import DataSpec, HoldoutSpec, SelectSpec
from embank.vector_table import VectorTable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".." / "shared" / "data"
N_COMMUNITIES = 50
# What each task's figure says about its sampling: the cap and the population it drew from.
SAMPLING = (
    "max_rows",
    "n_labelled_rows",
    "n_users",
    "pairs_per_user",
    "max_edges",
    "n_holdout_edges",
    "negatives",
    "max_users",
    "n_users_with_holdout",
)
HEADLINE = {
    "topic_prediction": "topic_prediction.macro_f1_at_50",
    "metadata_prediction": None,  # the first figure
    "follow_jaccard": "follow_jaccard.spearman",
    "link_prediction": "link_prediction.mrr",
    "recommendation": "recommendation.recall_at_10",
}


def time_task(
    rows: list[dict], dataset: str, task: str, table: VectorTable, inputs: BenchmarkInputs
) -> TaskResult:
    params = {"metric": "dot"} if task in ("link_prediction", "recommendation") else {}
    start = time.perf_counter()
    result = benchmarks.get(task)(params).run(table, inputs)
    elapsed = time.perf_counter() - start
    name = HEADLINE[task] or result.figures[0].name
    figure = next(f for f in result.figures if f.name == name)
    sampled = {k: v for k, v in {**result.params, **figure.details}.items() if k in SAMPLING}
    rows.append(
        {
            "data set": dataset,
            "task": task,
            "rows": table.n_rows,
            "sample": f"{figure.sample_size} scored; "
            + ", ".join(f"{k} {v}" for k, v in sorted(sampled.items())),
            "seconds": round(elapsed, 2),
            "figure": f"{name.split('.', 1)[1]} {figure.value:.4f}",
            "baseline": (
                f"{figure.baseline_name} {figure.baseline:.4f}"
                if figure.baseline is not None
                else ""
            ),
        }
    )
    print(f"  {dataset} {task}: {elapsed:.2f} s", file=sys.stderr, flush=True)
    return result


def real_sets(data: Path, rows: list[dict]) -> None:
    os.environ["EMBANK_DATA"] = str(data)
    spec = load_spec(ROOT / "examples" / "blogcatalog.yaml", []).spec
    holdout = HoldoutSpec(fraction=0.1, by="edge", seed=0)
    dataset = select(spec.data, spec.select, ROOT / "examples", holdout=holdout)
    table = algorithms.get("spectral")({"dim": 128, "seed": 0}).fit(dataset).embeddings
    inputs = BenchmarkInputs(labels=dataset.labels, holdout=dataset.holdout, graph=dataset.graph)
    for task in ("topic_prediction", "follow_jaccard", "link_prediction"):
        time_task(rows, "BlogCatalog", task, table, inputs)

    spec = load_spec(ROOT / "examples" / "movielens.yaml", []).spec
    dataset = select(spec.data, spec.select, ROOT / "examples", holdout=spec.holdout)
    table = algorithms.get(spec.algorithm.name)(spec.algorithm.params).fit(dataset).embeddings
    inputs = BenchmarkInputs(
        holdout=dataset.holdout, interactions=dataset.interactions, metadata=dataset.metadata
    )
    for task in ("recommendation", "metadata_prediction"):
        time_task(rows, "MovieLens 100K", task, table, inputs)


def _community_vectors(
    communities: np.ndarray, rng: np.random.Generator, dim: int = 64
) -> np.ndarray:
    """Each row near its community's centroid: informative, cheap, clustered (not random)."""
    centroids = rng.standard_normal((N_COMMUNITIES, dim)).astype(np.float32)
    noise = rng.standard_normal((len(communities), dim), dtype=np.float32)
    return centroids[communities] + 1.5 * noise


def synthetic_graph(n_nodes: int, folder: Path, rows: list[dict]) -> None:
    start = time.perf_counter()
    edges, communities = make_social_graph(
        n_users=n_nodes, n_communities=N_COMMUNITIES, mean_degree=10.0, seed=0
    )
    keys = np.char.add("u", np.arange(n_nodes).astype(str))
    pq.write_table(
        pa.table({"src": keys[edges[:, 0]], "dst": keys[edges[:, 1]]}), folder / "edges.parquet"
    )
    data = DataSpec.model_validate(
        {"edges": {"entity": "user", "path": "edges.parquet", "directed": False}}
    )
    holdout = HoldoutSpec(fraction=0.1, by="edge", seed=0)
    dataset = select(data, SelectSpec(min_degree=1), folder, holdout=holdout)
    graph = dataset.graph
    print(
        f"  synthetic graph: {graph.n_nodes:,} nodes, {graph.n_edges // 2:,} training edges, "
        f"{len(dataset.holdout):,} held out; built in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    node_ids = np.char.lstrip(graph.index_to_key.astype(str), "u").astype(np.int64)
    primary = np.array([c[0] for c in communities])[node_ids]
    rng = np.random.default_rng(1)
    table = VectorTable.single_entity("user", graph.index_to_key, _community_vectors(primary, rng))
    label_rows = [
        (graph.index_to_key[i], f"c{c}") for i, n in enumerate(node_ids) for c in communities[n]
    ]
    labels = Labels("user", pd.DataFrame(label_rows, columns=["key", "label"]))
    # a column that follows the community 60 % of the time, else any of 8 values
    region = np.where(rng.random(len(primary)) < 0.6, primary % 8, rng.integers(0, 8, len(primary)))
    metadata = Metadata(
        "user", pd.DataFrame({"key": graph.index_to_key, "region": [f"r{r}" for r in region]})
    )
    inputs = BenchmarkInputs(labels=labels, holdout=dataset.holdout, graph=graph, metadata=metadata)
    name = f"synthetic graph, {graph.n_nodes:,} nodes"
    for task in ("topic_prediction", "metadata_prediction", "follow_jaccard", "link_prediction"):
        time_task(rows, name, task, table, inputs)


def synthetic_interactions(n_users: int, folder: Path, rows: list[dict]) -> None:
    """Users and items co-embedded around community centroids; 10 items per user."""
    rng = np.random.default_rng(2)
    n_items = 50_000
    user_community = rng.integers(0, N_COMMUNITIES, n_users)
    item_community = rng.integers(0, N_COMMUNITIES, n_items)
    items_of = [np.flatnonzero(item_community == c) for c in range(N_COMMUNITIES)]
    per_user = 10
    src = np.repeat(np.arange(n_users), per_user)
    dst = rng.integers(0, n_items, len(src))
    own = rng.random(len(src)) < 0.7  # most of a user's items are from its community
    for c in range(N_COMMUNITIES):
        pick = own & (user_community[src] == c)
        dst[pick] = items_of[c][rng.integers(0, len(items_of[c]), int(pick.sum()))]
    users = np.char.add("u", np.arange(n_users).astype(str))
    items = np.char.add("i", np.arange(n_items).astype(str))
    pq.write_table(pa.table({"src": users[src], "dst": items[dst]}), folder / "pairs.parquet")
    data = DataSpec.model_validate(
        {"interactions": {"src": "user", "dst": "item", "path": "pairs.parquet"}}
    )
    holdout = HoldoutSpec(fraction=0.2, by="user", seed=0)
    dataset = select(data, SelectSpec(), folder, holdout=holdout)
    inter = dataset.interactions
    user_ids = np.char.lstrip(inter.src_keys.astype(str), "u").astype(np.int64)
    item_ids = np.char.lstrip(inter.dst_keys.astype(str), "i").astype(np.int64)
    communities = np.concatenate([user_community[user_ids], item_community[item_ids]])
    table = VectorTable(
        np.array(["user"] * len(user_ids) + ["item"] * len(item_ids), dtype=object),
        np.concatenate([inter.src_keys, inter.dst_keys]),
        _community_vectors(communities, rng),
    )
    inputs = BenchmarkInputs(holdout=dataset.holdout, interactions=inter)
    name = f"synthetic co-embedded, {len(user_ids):,} users x {len(item_ids):,} items"
    time_task(rows, name, "recommendation", table, inputs)


def markdown(rows: list[dict]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["real", "synthetic"])
    args = parser.parse_args(argv)
    rows: list[dict] = []
    if args.only != "synthetic":
        real_sets(args.data.resolve(), rows)
    if args.only != "real":
        with tempfile.TemporaryDirectory() as tmp:
            synthetic_graph(args.nodes, Path(tmp), rows)
            synthetic_interactions(args.nodes, Path(tmp), rows)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
