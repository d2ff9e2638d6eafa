"""``embank refresh`` on BlogCatalog (spectral, the example's params): the issue's bars.

One bank, three versions, made in order by a module fixture:

- v1: ``embank run`` on BlogCatalog without a random 10 % of its edges;
- v2: ``refresh --force`` on the same data (warm start, aligned): keeps the space with
  overlap@10 >= 0.99 and median aligned cosine >= 0.999;
- v3: ``refresh --spec`` on evolving data (those 10 % of edges added, a random 5 % of
  v1's removed): same space, benchmarks within 0.01 of a cold refit, drift stored and
  shown, and a logistic regression trained on v1 vectors loses less accuracy fed v3
  than fed the cold, unaligned refit.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import embank
from embank.cli import app
from embank.pipeline.refresh import refresh_table
from embank.pipeline.run import run_spec
from embank.spec.load import load_spec

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

runner = CliRunner()

SPEC = """\
table: demo/blogcatalog
entities: [user]
data:
  edges:
    entity: user
    path: {edges}
    columns: {{src: src, dst: dst, weight: weight}}
    directed: false
  labels:
    entity: user
    path: {labels}
    columns: {{key: node, label: label}}
select: {{symmetrise: true, drop_self_loops: true, min_degree: 1}}
algorithm: {{name: spectral, params: {{dim: 128, seed: 0}}}}
benchmarks:
  - topic_prediction: {{train_ratios: [0.5], splits: 2}}
refresh:
  warm_start: true
  gates: ["drift.overlap_at_10.median >= 0.3", "drift.eigenspace_overlap >= 0.5"]
"""


def _write_spec(folder: Path, name: str, edges: pd.DataFrame, labels: Path) -> Path:
    path = folder / f"{name}.tsv"
    edges.to_csv(path, sep="\t", index=False)
    spec = folder / f"{name}.yaml"
    spec.write_text(SPEC.format(edges=path, labels=labels))
    return spec


@pytest.fixture(scope="module")
def versions(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("refresh_blogcatalog")
    with gzip.open(shared_data / "blogcatalog" / "edges.tsv.gz", "rt") as fh:
        edges = pd.read_csv(fh, sep="\t")
    rng = np.random.default_rng(0)
    added = rng.random(len(edges)) < 0.10  # absent from v1, present from v3 on
    v1_edges = edges[~added]
    removed = rng.random(len(v1_edges)) < 0.05  # present in v1, gone from v3
    v3_edges = pd.concat([v1_edges[~removed], edges[added]])
    labels = shared_data / "blogcatalog" / "labels.tsv"
    spec_v1 = _write_spec(folder, "v1", v1_edges, labels)
    spec_v3 = _write_spec(folder, "v3", v3_edges, labels)
    bank_path = folder / "bank"
    bank = embank.open(bank_path)
    run_spec(load_spec(spec_v1), bank)
    forced = refresh_table(bank, "demo/blogcatalog", force=True)
    evolved = refresh_table(bank, "demo/blogcatalog", spec=load_spec(spec_v3))
    cold = run_spec(load_spec(spec_v3), None)  # a cold, unaligned refit, not published
    yield {
        "bank": bank,
        "bank_path": bank_path,
        "forced": forced,
        "evolved": evolved,
        "cold": cold,
        "labels": pd.read_csv(labels, sep="\t", dtype=str),
        "n_added": int(added.sum()),
        "n_removed": int(removed.sum()),
    }
    bank.close()


def test_forced_warm_refresh_on_unchanged_data_keeps_the_space(versions):
    forced = versions["forced"]
    bank = versions["bank"]
    figures = forced.drift.figures
    print(f"spectral warm refresh, unchanged data: warm start {forced.warm_start}")
    print({k: v for k, v in figures.items() if "support" not in k})
    assert forced.warm_start["used"] and forced.space == "kept"
    assert figures["drift.overlap_at_10.median"] >= 0.99
    assert 1.0 - figures["drift.cosine_distance.median"] >= 0.999
    assert bank.get("demo/blogcatalog@2").space_id == bank.get("demo/blogcatalog@1").space_id


def test_evolving_data_refresh_keeps_the_space_and_matches_a_cold_refit(versions):
    evolved, cold, bank = versions["evolved"], versions["cold"], versions["bank"]
    print(f"edges added {versions['n_added']}, removed {versions['n_removed']}")
    print(f"evolved: {evolved.message}; warm start {evolved.warm_start}")
    print(f"alignment {evolved.alignment.to_dict()}")
    print({k: v for k, v in evolved.drift.figures.items() if "support" not in k})
    assert evolved.published and evolved.space == "kept"
    assert all(o.passed for o in evolved.drift_gates)
    v3 = bank.get("demo/blogcatalog@3")
    assert v3.space_id == bank.get("demo/blogcatalog@1").space_id
    shown = bank.show("demo/blogcatalog@3")
    refreshed = {f.figure: f.value for f in shown.benchmarks if f.task == "topic_prediction"}
    cold_figures = {f.name: f.value for r in cold.results for f in r.figures}
    for name, value in refreshed.items():
        print(f"{name}: refresh {value:.4f}, cold refit {cold_figures[name]:.4f}")
        assert abs(value - cold_figures[name]) <= 0.01, name
    # drift figures are stored with the version and shown
    assert shown.drift["space"] == "kept" and shown.drift["previous_version"] == 2
    assert (
        shown.drift["figures"]["drift.coverage.added"]
        == evolved.drift.figures["drift.coverage.added"]
    )
    text = runner.invoke(app, ["show", "demo/blogcatalog@3", "--bank", str(versions["bank_path"])])
    assert text.exit_code == 0 and "drift.overlap_at_10.median" in text.output
    as_json = json.loads(
        runner.invoke(
            app, ["show", "demo/blogcatalog@3", "--bank", str(versions["bank_path"]), "--json"]
        ).stdout
    )
    assert as_json["drift"]["figures"]["drift.eigenspace_overlap"] > 0.5


def _first_label(labels: pd.DataFrame) -> pd.Series:
    return labels.sort_values(["node", "label"]).groupby("node")["label"].first()


def test_a_model_trained_on_v1_keeps_more_accuracy_on_the_aligned_refresh(versions):
    bank = versions["bank"]
    v1 = bank.get("demo/blogcatalog@1").to_vector_table()
    v3 = bank.get("demo/blogcatalog@3").to_vector_table()
    cold = versions["cold"].vectors
    target = _first_label(versions["labels"])
    every = np.array(target.index, dtype=object)
    present = np.ones(len(every), dtype=bool)
    for table in (v1, v3, cold):
        present &= table.rows_of("user", every) >= 0
    keys = every[present].tolist()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(keys))
    train = [keys[i] for i in order[: len(keys) // 2]]
    test = [keys[i] for i in order[len(keys) // 2 :]]

    def rows(table, some):
        return table.vectors[table.rows_of("user", np.array(some, dtype=object))]

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    model.fit(rows(v1, train), target[train].to_numpy())
    truth = target[test].to_numpy()
    accuracy = {
        name: float((model.predict(rows(table, test)) == truth).mean())
        for name, table in (("v1", v1), ("v3 aligned refresh", v3), ("cold refit", cold))
    }
    print(f"logistic regression trained on v1 vectors, accuracy on {len(test)} keys: {accuracy}")
    loss_refresh = accuracy["v1"] - accuracy["v3 aligned refresh"]
    loss_cold = accuracy["v1"] - accuracy["cold refit"]
    print(
        f"accuracy lost: aligned refresh {loss_refresh:.4f}, cold unaligned refit {loss_cold:.4f}"
    )
    assert loss_refresh < loss_cold
