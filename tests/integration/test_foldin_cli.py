"""``embank foldin`` on a small graph: new nodes get vectors in a patch, nothing else moves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import embank
from embank.cli import app

runner = CliRunner()
T = "demo/communities"

SPEC = """\
table: demo/communities
entities: [user]
data:
  edges: {entity: user, path: edges.tsv, columns: {src: src, dst: dst, weight: weight}}
algorithm: {name: spectral, params: {dim: 8, seed: 0}}
publish: {metric: cosine}
"""


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def published(tmp_path, write_communities):
    write_communities(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC)
    bank_dir = tmp_path / "bank"
    done = _invoke("run", tmp_path / "spec.yaml", "--bank", bank_dir, "--json")
    assert done.exit_code == 0, done.output
    assert _invoke("alias", f"{T}@1", "production", "--bank", bank_dir).exit_code == 0
    return tmp_path, bank_dir


def test_foldin_publishes_a_patch_in_the_same_space(published):
    folder, bank_dir = published
    with (folder / "edges.tsv").open("a") as edges:
        # n1 joins community a with three links, n2 has one link, n3 links only to n2
        edges.write("n1\tu0\t1\nn1\tu1\t1\nn1\tu2\t1\nn2\tu50\t1\nn3\tn2\t1\n")
    done = _invoke("foldin", T, "--min-support", "2", "--bank", bank_dir, "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["published"] and body["version"] == 2 and body["parent"] == 1
    assert body["folded"] == 1 and body["skipped"] == 2
    skipped = {r["key"]: r["support"] for r in body["skipped_keys"]}
    assert skipped == {"n2": 1, "n3": 0}
    with embank.open(bank_dir) as bank:
        v1, v2 = bank.get(f"{T}@1"), bank.get(T)
        assert bank.get(f"{T}@production").version == 1  # only latest moves
        assert v2.space_id == v1.space_id and v2.version_info.kind == "patch"
        assert v2.n_rows == v1.n_rows + 1
        rows = v2.rows(v1.keys)
        np.testing.assert_array_equal(v2.to_numpy()[rows], v1.to_numpy())
        # n1's neighbours are its community: it was folded between u0, u1, u2
        near = {n.key for n in v2.neighbors("n1", k=5)}
        assert len(near & {f"u{i}" for i in range(40)}) >= 4
        attributes = v2.row_attributes()
        assert attributes.loc[attributes["folded"], "key"].tolist() == ["n1"]
        assert v1.row_attributes() is None
        audit = [e for e in bank.audit_log(T) if e["action"] == "publish"][-1]
        assert audit["details"]["foldin"]["patch_of"] == 1
        checked = bank.check()  # the patch's files, row attributes included, are intact
        assert checked.ok and checked.n_versions == 2, checked.problems

    again = _invoke("foldin", T, "--min-support", "2", "--bank", bank_dir)
    assert again.exit_code == 0, again.output
    assert "nothing to fold into demo/communities@2" in again.output

    with (folder / "edges.tsv").open("a") as edges:
        edges.write("n4\tu60\t1\nn4\tu61\t1\n")
    third = _invoke("foldin", T, "--min-support", "2", "--bank", bank_dir, "--json")
    assert json.loads(third.stdout)["version"] == 3
    with embank.open(bank_dir) as bank:
        v3 = bank.get(T)
        assert v3.version_info.parent == 2 and v3.space_id == bank.get(f"{T}@1").space_id
        attributes = v3.row_attributes()
        # a row folded into an earlier patch stays marked
        assert attributes.loc[attributes["folded"], "key"].tolist() == ["n1", "n4"]


def test_foldin_says_what_to_do_when_it_cannot_run(published, tmp_path):
    folder, bank_dir = published
    with embank.open(bank_dir) as bank:
        rng = np.random.default_rng(0)
        table = embank.VectorTable.single_entity("user", ["a", "b"], rng.random((2, 3)))
        bank.publish("demo/direct", table)
    bare = _invoke("foldin", "demo/direct", "--bank", bank_dir)
    assert bare.exit_code == 2 and "stores no spec" in bare.output and "--spec" in bare.output
    other = _invoke("foldin", "demo/direct", "--spec", folder / "spec.yaml", "--bank", bank_dir)
    assert other.exit_code == 2 and "makes table demo/communities" in other.output
    since = _invoke("foldin", T, "--since", "yesterday", "--bank", bank_dir)
    assert since.exit_code == 2 and "ISO 8601" in since.output
    with embank.open(bank_dir) as bank:
        assert bank.get(T).version == 1  # nothing was published


def test_foldin_is_refused_while_a_refresh_holds_the_table_lock(published):
    from embank.refresh.lock import lock_holder, refresh_lock

    folder, bank_dir = published
    with (folder / "edges.tsv").open("a") as edges:
        edges.write("n1\tu0\t1\nn1\tu1\t1\nn1\tu2\t1\n")
    with embank.open(bank_dir) as bank, refresh_lock(bank, T):
        refused = _invoke("foldin", T, "--bank", bank_dir)
        assert refused.exit_code == 5, refused.output  # ConflictError
        assert "another refresh of demo/communities is running" in refused.output
        assert bank.get(T).version == 1  # nothing was published
        assert lock_holder(bank, T)["action"] == "refresh"  # the holder's lock stands
    with embank.open(bank_dir) as bank:
        assert lock_holder(bank, T) is None
        # and the fold-in's own lock refuses a refresh, naming the fold-in
        with refresh_lock(bank, T, action="fold-in"):
            refresh = _invoke("refresh", T, "--force", "--bank", bank_dir)
            assert refresh.exit_code == 5, refresh.output
            assert "another fold-in of demo/communities is running" in refresh.output
    done = _invoke("foldin", T, "--bank", bank_dir, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["version"] == 2
    with embank.open(bank_dir) as bank:
        assert lock_holder(bank, T) is None  # released after the publish
