"""Multi-relation model (twhin) on BlogCatalog: training throughput beside a plain PyTorch
loop of the same loss and, when it runs, PyTorch-BigGraph itself.

All three train the same 667,966 directed edges (each undirected edge both ways) with the
same model and loss: one 128-d table, identity operator, dot comparator, softmax loss over
100 in-batch negatives (groups of 100 edges) and 100 uniform negatives on both ends of each
edge, Adagrad at learning rate 0.1, batches of 1,000 edges, N(0, 0.001^2) start. A fourth
row runs twhin with its own defaults. Each is timed on its training alone (wall and CPU
seconds) and its vectors are scored by embank's topic prediction (Macro-F1 and Micro-F1
with 50% of the labelled nodes for training, 5 splits).

PyTorch-BigGraph (``torchbiggraph`` 1.0.0) runs in its own virtual environment, since it
needs ``setuptools<81`` (it imports ``pkg_resources``); the script calls it as a subprocess::

    python3.11 -m venv /tmp/pbgvenv
    /tmp/pbgvenv/bin/pip install 'setuptools<81' h5py attrs tqdm
    /tmp/pbgvenv/bin/pip install --no-deps torchbiggraph
    # torch, numpy and pandas: reuse this project's environment
    echo "$PWD/.venv/lib/python3.11/site-packages" \\
        > /tmp/pbgvenv/lib/python3.11/site-packages/zz_embank.pth

    python benchmarks/fit_graph.py [--data DIR] [--threads 2] [--epochs 5]
                                   [--pbg-python /tmp/pbgvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

DIM = 128
BATCH_SIZE = 1000
BATCH_NEGATIVES = 100
UNIFORM_NEGATIVES = 100
LEARNING_RATE = 0.1
INIT_SCALE = 0.001
DEFAULT_DATA = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "blogcatalog"
DEFAULT_PBG_PYTHON = Path("/tmp/pbgvenv/bin/python")


def load(data_dir: Path):  # -> tuple[Dataset, Labels]
    """The BlogCatalog graph (symmetric CSR, keys sorted bytewise) and its labels."""
    from embank.data.graph import Dataset, Graph, Labels

    edges = pd.read_csv(data_dir / "edges.tsv.gz", sep="\t")
    labels = pd.read_csv(data_dir / "labels.tsv", sep="\t")
    n_nodes = int(max(edges["src"].max(), edges["dst"].max(), labels["node"].max())) + 1
    coo = sp.coo_matrix(
        (edges["weight"].to_numpy(np.float64), (edges["src"], edges["dst"])),
        shape=(n_nodes, n_nodes),
    )
    adjacency = coo.tocsr()
    adjacency = adjacency.maximum(adjacency.T).tocsr()
    keys = np.array([str(i) for i in range(n_nodes)], dtype=object)
    order = np.argsort(keys.astype(str), kind="stable")
    adjacency = adjacency[order][:, order].tocsr()
    graph = Graph(entity="user", index_to_key=keys[order], adjacency=adjacency)
    pairs = pd.DataFrame({"key": labels["node"].astype(str), "label": labels["label"].astype(str)})
    return Dataset(graph=graph), Labels(entity="user", pairs=pairs)


# -- the three trainers ----------------------------------------------------------------


def fit_ours(dataset, epochs: int, threads: int) -> np.ndarray:
    from embank.algorithms.twhin import TwHIN

    params = {
        "dim": DIM,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "batch_negatives": BATCH_NEGATIVES,
        "uniform_negatives": UNIFORM_NEGATIVES,
        "learning_rate": LEARNING_RATE,
        "init_scale": INIT_SCALE,
        "n_threads": threads,
        "device": "cpu",
    }
    return TwHIN(params).fit(dataset).embeddings.vectors


def fit_ours_defaults(dataset, epochs: int, threads: int) -> np.ndarray:
    """Our defaults instead: 200 uniform negatives and no in-batch ones."""
    from embank.algorithms.twhin import TwHIN

    params = {"dim": DIM, "epochs": epochs, "n_threads": threads, "device": "cpu"}
    return TwHIN(params).fit(dataset).embeddings.vectors


def fit_reference(dataset, epochs: int, threads: int) -> np.ndarray:
    """The same model and loss as a plain PyTorch loop: nn.Embedding(sparse=True) and
    torch.optim.Adagrad; the last batch of an epoch is cut to whole groups of 100."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        coo = dataset.graph.adjacency.tocoo()
        src = torch.from_numpy(coo.row.astype(np.int64))
        dst = torch.from_numpy(coo.col.astype(np.int64))
        n_nodes, n_edges = dataset.graph.n_nodes, len(src)
        table = torch.nn.Embedding(n_nodes, DIM, sparse=True)
        torch.nn.init.normal_(table.weight, std=INIT_SCALE)
        optimizer = torch.optim.Adagrad(table.parameters(), lr=LEARNING_RATE)
        mask = torch.eye(BATCH_NEGATIVES, dtype=torch.bool)
        for _ in range(epochs):
            order = torch.randperm(n_edges)
            for start in range(0, n_edges, BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                batch = batch[: len(batch) // BATCH_NEGATIVES * BATCH_NEGATIVES]
                if len(batch) == 0:
                    continue
                s, d = table(src[batch]), table(dst[batch])
                s_neg = table(torch.randint(n_nodes, (UNIFORM_NEGATIVES,)))
                d_neg = table(torch.randint(n_nodes, (UNIFORM_NEGATIVES,)))
                positive = (s * d).sum(dim=1)
                groups = len(batch) // BATCH_NEGATIVES
                in_batch = torch.bmm(
                    s.view(groups, BATCH_NEGATIVES, DIM),
                    d.view(groups, BATCH_NEGATIVES, DIM).transpose(1, 2),
                ).masked_fill(mask, float("-inf"))
                by_dst = torch.cat([s @ d_neg.T, in_batch.reshape(len(batch), -1)], dim=1)
                by_src = torch.cat(
                    [d @ s_neg.T, in_batch.transpose(1, 2).reshape(len(batch), -1)], dim=1
                )
                loss = 0
                for negative in (by_dst, by_src):
                    logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
                    loss = loss + (torch.logsumexp(logits, dim=1) - positive).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return table.weight.detach().numpy().copy()
    finally:
        torch.set_num_threads(previous)


def fit_pbg(dataset, epochs: int, threads: int, python: Path) -> tuple[np.ndarray, dict]:
    """Run PyTorch-BigGraph in its own environment on the same directed edges."""
    coo = dataset.graph.adjacency.tocoo()
    with tempfile.TemporaryDirectory(prefix="pbg-") as tmp:
        work = Path(tmp)
        pd.DataFrame({"src": coo.row, "dst": coo.col}).to_csv(
            work / "edges.tsv", sep="\t", header=False, index=False
        )
        command = [
            str(python),
            __file__,
            "--pbg-worker",
            str(work),
            "--epochs",
            str(epochs),
            "--threads",
            str(threads),
            "--n-nodes",
            str(dataset.graph.n_nodes),
        ]
        # One op thread per worker process, as ours: PBG's workers otherwise each start
        # torch's full thread pool and oversubscribe the cores.
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"PyTorch-BigGraph failed:\n{done.stderr[-3000:]}")
        info = json.loads((work / "timing.json").read_text())
        vectors = np.load(work / "vectors.npy", allow_pickle=False)
    return vectors, info


def pbg_worker(work: Path, epochs: int, threads: int, n_nodes: int) -> None:
    """Inside PyTorch-BigGraph's environment: import, train, export vectors by node id."""
    import h5py
    from torchbiggraph.config import parse_config
    from torchbiggraph.converters.import_from_tsv import convert_input_data
    from torchbiggraph.train import train
    from torchbiggraph.util import SubprocessInitializer, setup_logging

    setup_logging()
    bucket_s: list[float] = []

    class BucketTimes(logging.Handler):
        # PBG logs "Processed N edges in T s" per bucket: its pure training time.
        def emit(self, record: logging.LogRecord) -> None:
            found = re.search(r"Processed \d+ edges in ([\d.]+) s", record.getMessage())
            if found:
                bucket_s.append(float(found.group(1)))

    logging.getLogger().addHandler(BucketTimes())
    config = parse_config(
        {
            "entity_path": str(work / "entities"),
            "edge_paths": [str(work / "edges_partitioned")],
            "checkpoint_path": str(work / "model"),
            "entities": {"user": {"num_partitions": 1}},
            "relations": [{"name": "edge", "lhs": "user", "rhs": "user", "operator": "none"}],
            "dimension": DIM,
            "comparator": "dot",
            "loss_fn": "softmax",
            "lr": LEARNING_RATE,
            "init_scale": INIT_SCALE,
            "num_epochs": epochs,
            "batch_size": BATCH_SIZE,
            "num_batch_negs": BATCH_NEGATIVES,
            "num_uniform_negs": UNIFORM_NEGATIVES,
            "workers": threads,
            "eval_fraction": 0,
        }
    )
    convert_input_data(
        config.entities,
        config.relations,
        config.entity_path,
        config.edge_paths,
        [work / "edges.tsv"],
        lhs_col=0,
        rhs_col=1,
    )
    start, start_cpu, start_children = time.perf_counter(), time.process_time(), _children_cpu_s()
    train(config, subprocess_init=SubprocessInitializer())
    wall_s = time.perf_counter() - start
    # PBG trains in worker processes, reaped when train() returns: count theirs too.
    cpu_s = time.process_time() - start_cpu + _children_cpu_s() - start_children
    version = (work / "model" / "checkpoint_version.txt").read_text().strip()
    with h5py.File(work / "model" / f"embeddings_user_0.v{version}.h5", "r") as f:
        trained = f["embeddings"][...]
    names = json.loads((work / "entities" / "entity_names_user_0.json").read_text())
    vectors = np.zeros((n_nodes, DIM), dtype=np.float32)  # PBG drops nodes without edges
    vectors[np.array([int(n) for n in names])] = trained
    np.save(work / "vectors.npy", vectors)
    timing = {"wall_s": wall_s, "train_s": sum(bucket_s), "cpu_s": cpu_s}
    (work / "timing.json").write_text(json.dumps(timing))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the comparison --------------------------------------------------------------------


def score(dataset, labels, vectors: np.ndarray) -> tuple[float, float]:
    from embank.benchmarks.base import BenchmarkInputs
    from embank.benchmarks.topic_prediction import TopicPrediction
    from embank.vector_table import VectorTable

    graph = dataset.graph
    table = VectorTable.single_entity(graph.entity, graph.index_to_key, vectors)
    result = TopicPrediction({"train_ratios": [0.5], "splits": 5, "baseline": False}).run(
        table, BenchmarkInputs(labels=labels)
    )
    figures = {f.name: f.value for f in result.figures}
    return figures["topic_prediction.macro_f1_at_50"], figures["topic_prediction.micro_f1_at_50"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BlogCatalog folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads / PBG workers")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for every trainer")
    parser.add_argument(
        "--pbg-python",
        type=Path,
        default=DEFAULT_PBG_PYTHON,
        help="python of a venv with torchbiggraph; skipped when missing",
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="ours, reference, pbg or defaults"
    )
    parser.add_argument("--pbg-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-nodes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pbg_worker is not None:
        pbg_worker(args.pbg_worker, args.epochs, args.threads, args.n_nodes)
        return 0

    dataset, labels = load(args.data)
    n_edges = dataset.graph.n_edges
    print(
        f"BlogCatalog: {dataset.graph.n_nodes:,} nodes, {n_edges:,} directed edges, dim {DIM}, "
        f"{args.epochs} epochs, {args.threads} threads, torch {torch.__version__}"
    )
    trainers = {
        "ours": lambda: fit_ours(dataset, args.epochs, args.threads),
        "reference": lambda: fit_reference(dataset, args.epochs, args.threads),
        "defaults": lambda: fit_ours_defaults(dataset, args.epochs, args.threads),
    }
    if args.pbg_python.exists():
        trainers["pbg"] = lambda: fit_pbg(dataset, args.epochs, args.threads, args.pbg_python)
    else:
        print(f"PyTorch-BigGraph skipped: {args.pbg_python} not found (see --help)")
    names = {
        "ours": "embank twhin",
        "reference": "plain PyTorch loop",
        "pbg": "PyTorch-BigGraph 1.0.0",
        "defaults": "embank twhin, default negatives",
    }
    rows = []
    for key, fit in trainers.items():
        if key in args.skip:
            continue
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fit()
        wall_s, cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
        note = ""
        if isinstance(result, tuple):  # PBG: its own timing, from its subprocess
            vectors, info = result
            wall_s, cpu_s = info["wall_s"], info["cpu_s"]
            note = f"(train() wall; its per-bucket training alone: {info['train_s']:.1f} s)"
        else:
            vectors = result
        macro, micro = score(dataset, labels, vectors)
        rate = n_edges * args.epochs / wall_s
        rows.append((key, wall_s, cpu_s, rate, macro, micro))
        print(
            f"  {names[key]}: {wall_s:.1f} s, CPU {cpu_s:.1f} s, {rate:,.0f} edges/s, "
            f"{n_edges * args.epochs / cpu_s:,.0f} edges per CPU s, "
            f"Macro-F1 {macro:.4f}, Micro-F1 {micro:.4f} {note}",
            file=sys.stderr,
        )

    ours = next((r for r in rows if r[0] == "ours"), None)
    print()
    # cores = CPU s / train s: on shared cores, how much of the machine each trainer got
    print(
        "| trainer | train s | CPU s | cores | edges/s | edges per CPU s | speed vs ours "
        "| CPU cost vs ours | Macro-F1@50% | Micro-F1@50% |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, wall_s, cpu_s, rate, macro, micro in rows:
        speed = f"{rate / ours[3]:.2f}" if ours else ""
        cost = f"{cpu_s / ours[2]:.2f}" if ours else ""
        print(
            f"| {names[key]} | {wall_s:.1f} | {cpu_s:.1f} | {cpu_s / wall_s:.1f} | {rate:,.0f} | "
            f"{n_edges * args.epochs / cpu_s:,.0f} | {speed} | {cost} | {macro:.4f} | {micro:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
