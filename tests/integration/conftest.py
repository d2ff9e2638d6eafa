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
