"""Fixtures shared by the CLI tests."""

from pathlib import Path

import numpy as np
import pytest


def _write_communities(folder: Path, p_same: float = 0.3, p_other: float = 0.02) -> None:
    """``edges.tsv`` (src, dst, weight) and ``labels.tsv`` (node, topic) in ``folder``: two
    planted communities of 40 users each, linked with ``p_same`` inside, ``p_other`` across."""
    rng = np.random.default_rng(0)
    rows = []
    for a in range(80):
        for b in range(a + 1, 80):
            same = (a < 40) == (b < 40)
            if rng.random() < (p_same if same else p_other):
                rows.append(f"u{a}\tu{b}\t1\n")
    (folder / "edges.tsv").write_text("src\tdst\tweight\n" + "".join(rows))
    (folder / "labels.tsv").write_text(
        "node\ttopic\n" + "".join(f"u{i}\t{'a' if i < 40 else 'b'}\n" for i in range(80))
    )


@pytest.fixture(scope="session")
def write_communities():
    return _write_communities


_SMALL_SPEC = """\
table: test/small
entities: [user]
data:
  edges:
    entity: user
    path: edges.tsv
    columns: {src: src, dst: dst, weight: weight}
"""
_SMALL_LABELS = """\
  labels:
    entity: user
    path: labels.tsv
    columns: {key: node, label: topic}
"""
_SMALL_FIT = """\
algorithm: {name: spectral, params: {dim: 4, seed: 0}}
"""
_SMALL_BENCHMARK = """\
benchmarks:
  - topic_prediction: {train_ratios: [0.5], splits: 2, n_jobs: 1}
"""


def _write_small_project(folder: Path, *, labelled: bool = True, extra: str = "") -> Path:
    """The planted communities and ``folder/spec.yaml``: table ``test/small``, spectral
    dim 4 over the edges, and, when ``labelled``, the labels and a topic_prediction
    benchmark; ``extra`` is more top-level YAML (gates, refresh settings, owner ...)."""
    _write_communities(folder)
    spec = _SMALL_SPEC + (_SMALL_LABELS if labelled else "") + _SMALL_FIT
    spec += (_SMALL_BENCHMARK if labelled else "") + extra
    (folder / "spec.yaml").write_text(spec)
    return folder


@pytest.fixture(scope="session")
def write_small_project():
    return _write_small_project
