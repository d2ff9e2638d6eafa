"""The pipeline end to end on real data: BlogCatalog (10,312 bloggers, 39 topics).

Published for comparison (node2vec paper, Table 2, Macro-F1 at 50 %): DeepWalk 0.211,
node2vec 0.258. Our spectral fit must reach Macro-F1 >= 0.27 and Micro-F1 >= 0.41.
"""

import json
import subprocess
import sys

import pytest

import embank

pytestmark = pytest.mark.realdata


def test_published_figures_meet_the_bar(blogcatalog_bank):
    shown = embank.open(blogcatalog_bank, create=False).show("demo/blogcatalog")
    assert shown.version.number == 1 and shown.version.n_rows == 10_312
    figures = {f.figure: f for f in shown.benchmarks}
    macro = figures["topic_prediction.macro_f1_at_50"]
    micro = figures["topic_prediction.micro_f1_at_50"]
    assert macro.value >= 0.27, macro
    assert micro.value >= 0.41, micro
    # the random-vector baseline sits far below: the figure is earned, not an artefact
    assert macro.baseline is not None and macro.baseline < 0.1
    for ratio in (10, 90):
        assert f"topic_prediction.macro_f1_at_{ratio}" in figures
    assert (
        figures["topic_prediction.macro_f1_at_90"].value
        > figures["topic_prediction.macro_f1_at_10"].value
    )
    lineage = shown.version.lineage
    assert lineage["algorithm"]["name"] == "spectral"
    assert lineage["gates"][0]["passed"] is True


def test_neighbors_and_show_through_the_cli(blogcatalog_bank):
    def cli(*args):
        done = subprocess.run(
            [sys.executable, "-m", "embank", *args, "--bank", str(blogcatalog_bank), "--json"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    near = cli("neighbors", "demo/blogcatalog", "42", "-k", "10")
    emb = embank.open(blogcatalog_bank, create=False).get("demo/blogcatalog")
    assert [n["key"] for n in near["neighbors"]] == [n.key for n in emb.neighbors("42", k=10)]
    assert cli("show", "demo/blogcatalog@1")["version"]["space_id"] == near["space_id"]
    assert [t["name"] for t in cli("search", "blogger")] == ["demo/blogcatalog"]
