"""Fold-in on MovieLens 100K: users who arrive after v1 get vectors without a refit.

v1 is the example spec (ALS, per-user 20 % hold-out, seed 0) fitted on the ratings of 90 %
of the users: every user whose id ends in 3 is left out (95 of the 942 users with a
positive rating). The data file then gains their ratings, and ``foldin`` publishes v2, a
patch of v1 in its space (13 new items, rated only by new users, have no known user to be
solved against and get no vector); a full refit on the same data is v3. Each new user's
held-out items (the same split in both: selection splits the same data with the same
seed) are ranked by both versions.

Measured (2026-11-29): Recall@10 of the 95 new users, folded in 0.2350, refit 0.2678
(87.8 %); printed by the test (``pytest -s``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import embank
from embank.benchmarks.base import BenchmarkInputs
from embank.benchmarks.recommendation import Recommendation
from embank.data.select import select
from embank.pipeline import run_spec
from embank.refresh import foldin
from embank.spec.load import load_spec

pytestmark = pytest.mark.realdata

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "movielens.yaml"
TABLE = "demo/movielens"


def _new_user(users: pd.Series) -> pd.Series:
    return users.astype(int) % 10 == 3


@pytest.fixture(scope="module")
def banked(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("foldin")
    ratings = pd.read_csv(shared_data / "movielens-100k" / "interactions.tsv.gz", sep="\t")
    data = folder / "interactions.tsv"
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["data"]["interactions"]["sql"] = (
        'SELECT "user" AS src, item AS dst, rating AS weight, "timestamp" AS ts '
        f"FROM read_csv('{data}') WHERE rating >= 4"
    )
    spec_path = folder / "movielens.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBANK_DATA", str(shared_data))
        bank = embank.open(folder / "bank")
        ratings[~_new_user(ratings["user"])].to_csv(data, sep="\t", index=False)
        v1 = run_spec(load_spec(spec_path), bank).embedding
        ratings.to_csv(data, sep="\t", index=False)  # the new users' ratings arrive
        folded = foldin(bank, TABLE)  # reads the spec stored with v1
        refit = run_spec(load_spec(spec_path), bank).embedding
        spec = load_spec(spec_path).spec
        dataset = select(spec.data, spec.select, spec_path.parent, holdout=spec.holdout)
    yield bank, v1, folded, refit, dataset
    bank.close()


def _recall_of_new_users(embedding, dataset) -> tuple[float, int]:
    holdout = dataset.holdout
    new = holdout[(holdout["src_entity"] == "user") & _new_user(holdout["src"])]
    inputs = BenchmarkInputs(holdout=new, interactions=dataset.interactions)
    result = Recommendation({"k": [10], "from": "user", "to": "item"}).run(
        embedding.to_vector_table(), inputs
    )
    figure = next(f for f in result.figures if f.name == "recommendation.recall_at_10")
    return figure.value, figure.sample_size


def test_folded_users_recall_at_least_80_percent_of_a_refit(banked):
    _bank, _v1, folded, refit, dataset = banked
    recall_folded, n_folded = _recall_of_new_users(folded.embedding, dataset)
    recall_refit, n_refit = _recall_of_new_users(refit, dataset)
    print(
        f"\nRecall@10 of {n_folded} new users: folded in {recall_folded:.4f} "
        f"(v{folded.embedding.version}), full refit {recall_refit:.4f} (v{refit.version}), "
        f"ratio {recall_folded / recall_refit:.3f}"
    )
    assert n_folded == n_refit > 80
    assert recall_folded >= 0.8 * recall_refit


def test_the_patch_keeps_v1_and_its_space(banked):
    bank, v1, folded, refit, dataset = banked
    patch = folded.embedding
    assert patch.version == 2 and patch.version_info.kind == "patch"
    assert patch.version_info.parent == 1
    assert patch.space_id == v1.space_id != refit.space_id
    new_users = {k for k in dataset.interactions.src_keys if _new_user(pd.Series([k])).iloc[0]}
    assert len(new_users) == 95
    # items rated only by new users have no known user to be solved against: no vector
    skipped = folded.folded.skipped
    assert set(skipped["entity"]) == {"item"} and (skipped["support"] == 0).all()
    assert set(folded.folded.table.keys[folded.folded.table.entities == "user"]) == new_users
    # every row of v1 is in the patch, bit for bit
    before = bank.get(f"{TABLE}@1")
    rows = patch.rows(before.keys[before.entities == "user"], "user")
    assert (rows >= 0).all()
    np.testing.assert_array_equal(
        patch.to_numpy()[rows], before.to_numpy()[before.entities == "user"]
    )
    assert before.n_rows == v1.n_rows and before.version_info.content_hash == (
        v1.version_info.content_hash
    )
    attributes = patch.row_attributes()
    assert attributes is not None and len(attributes) == patch.n_rows
    assert list(attributes["key"]) == list(patch.keys)
    assert int(attributes["folded"].sum()) == folded.folded.n_folded
    assert (attributes.loc[attributes["folded"], "support"] >= 1).all()
    lineage = patch.version_info.lineage["foldin"]
    assert lineage["patch_of"] == 1 and lineage["folded"] == folded.folded.n_folded
    assert lineage["skipped"] == len(skipped) and lineage["min_support"] == 1
    figures = {f.figure for f in bank.show(f"{TABLE}@2").benchmarks}
    assert "recommendation.recall_at_10" in figures  # measured on the patch itself
