"""examples/movielens.yaml end to end: users and items co-embedded, one space, one bank."""

from pathlib import Path

import pytest

import embank
from embank.pipeline import run_spec
from embank.spec.load import load_spec

pytestmark = pytest.mark.realdata
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_movielens_example_publishes_a_co_embedded_table(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBANK_DATA", str(shared_data))
    bank = embank.open(tmp_path / "bank")
    result = run_spec(load_spec(REPO_ROOT / "examples" / "movielens.yaml"), bank)
    shown = bank.show("demo/movielens")
    assert shown.table.entities == ["item", "user"] and shown.table.metric == "dot"
    recall = next(f for f in shown.benchmarks if f.figure == "recommendation.recall_at_10")
    assert recall.baseline_name == "popularity"
    assert recall.value >= 1.7 * recall.baseline, recall  # measured 0.2605 vs 0.1110
    emb = result.embedding
    held = emb.holdout()
    assert held is not None and set(held["src_entity"]) == {"user"} and len(held) > 8000
    items = emb.neighbors("1", k=10, entity="user", target="item")
    assert len(items) == 10 and {n.entity for n in items} == {"item"}
    # held-out items of user 1 were never seen in training, and some rank in its top 50
    top = {n.key for n in emb.neighbors("1", k=50, entity="user", target="item")}
    assert top & set(held[held["src"] == "1"]["dst"])
