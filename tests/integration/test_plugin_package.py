"""The example plugin package (tests/plugins/embank-hashing), installed on its own.

It must register through its own entry point, exactly as an outside team's package
would, and be usable from a spec by name in a full ``embank run``.
"""

import json
import textwrap
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embank.algorithms import algorithms
from embank.cli import app

INSTALL = "pip install -e tests/plugins/embank-hashing"


def _require_installed():
    """Fail (not skip, not error): a missing package would hide a broken plugin path."""
    try:
        distribution("embank-hashing")
    except PackageNotFoundError:
        pytest.fail(
            "the example plugin package embank-hashing is not installed: run the test "
            f"install command in README.md ({INSTALL})"
        )


def test_registers_through_its_own_entry_point():
    _require_installed()
    found = [ep for ep in entry_points(group="embank.algorithms") if ep.name == "hashing"]
    assert len(found) == 1, found
    (ep,) = found
    assert ep.value == "embank_hashing:HashingEmbedding"
    assert ep.dist is not None and ep.dist.name == "embank-hashing"
    cls = algorithms.get("hashing")
    assert cls is ep.load()
    assert cls.__module__ == "embank_hashing" and cls.name == "hashing"
    assert "hashing" in algorithms.names()


def test_full_run_from_a_spec(tmp_path):
    """Two planted communities of 40 users each, embedded by the plugin and published."""
    _require_installed()
    rng = np.random.default_rng(0)
    rows = [
        f"u{a}\tu{b}\n"
        for a in range(80)
        for b in range(a + 1, 80)
        if rng.random() < (0.3 if (a < 40) == (b < 40) else 0.02)
    ]
    (tmp_path / "edges.tsv").write_text("src\tdst\n" + "".join(rows))
    (tmp_path / "labels.tsv").write_text(
        "node\ttopic\n" + "".join(f"u{i}\t{'a' if i < 40 else 'b'}\n" for i in range(80))
    )
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""\
        table: test/hashed
        description: Two planted communities, hashed neighbourhoods
        entities: [user]
        data:
          edges: {entity: user, path: edges.tsv}
          labels: {entity: user, path: labels.tsv, columns: {key: node, label: topic}}
        algorithm: {name: hashing, params: {dim: 16, hops: 2, seed: 3}}
        benchmarks:
          - topic_prediction: {train_ratios: [0.5], splits: 2, n_jobs: 1}
        gates: ["topic_prediction.macro_f1@50 >= 0.8"]
        """)
    )
    bank = tmp_path / "bank"
    runner = CliRunner()

    result = runner.invoke(app, ["run", str(tmp_path / "spec.yaml"), "--bank", str(bank)])
    assert result.exit_code == 0, result.output
    assert "published test/hashed@1" in result.output

    shown = runner.invoke(app, ["show", "test/hashed", "--bank", str(bank), "--json"])
    assert shown.exit_code == 0, shown.output
    version = json.loads(shown.stdout)["version"]
    assert version["number"] == 1 and version["status"] == "active"
    algorithm = version["lineage"]["algorithm"]
    assert algorithm["name"] == "hashing" and algorithm["deterministic"] is True
    assert algorithm["params"] == {"dim": 16, "seed": 3, "hops": 2, "self_weight": 1.0}
    assert json.loads(shown.stdout)["table"]["dim"] == 16


def test_the_docs_show_the_package_code():
    """docs/plugins.md reproduces the example's files; keep the copy exact."""
    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "plugins.md").read_text()
    package = root / "tests" / "plugins" / "embank-hashing"
    for path in (package / "pyproject.toml", package / "src" / "embank_hashing" / "__init__.py"):
        assert path.read_text().strip() in docs, (
            f"docs/plugins.md no longer shows {path.relative_to(root)} as it is; paste it again"
        )
