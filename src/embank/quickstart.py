"""The quickstart: a synthetic social graph with planted communities, run end to end.

The communities are the topics, so topic prediction has labels to judge the vectors by.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["QUICKSTART_TABLE", "make_social_graph", "write_quickstart"]

QUICKSTART_TABLE = "demo/quickstart"

_SPEC = """\
# Written by `embank quickstart`: a synthetic social graph with planted communities.
table: {table}
description: Synthetic social graph with {n_communities} planted communities (quickstart).
owner: quickstart
tags: [demo, social, synthetic]
entities: [user]
data:
  edges:
    entity: user
    path: edges.tsv.gz
    columns: {{src: src, dst: dst}}
    directed: false
  labels:
    entity: user
    path: labels.tsv
    columns: {{key: user, label: community}}
select: {{symmetrise: true, drop_self_loops: true, min_degree: 1}}
algorithm:
  name: spectral
  params: {{dim: 32, seed: 0}}
benchmarks:
  - topic_prediction: {{train_ratios: [0.1, 0.5, 0.9], splits: 5}}
gates: ["topic_prediction.macro_f1@50 >= 2 * baseline"]
publish: {{metric: cosine}}
"""


def make_social_graph(
    n_users: int = 3000,
    n_communities: int = 12,
    mean_degree: float = 16.0,
    p_within: float = 0.3,
    p_second: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, list[list[int]]]:
    """Edges (m x 2 user ids) and each user's communities.

    Degrees are heavy-tailed (Pareto, as in social graphs); each edge stays inside one of
    its user's communities with probability ``p_within``, else lands anywhere.
    """
    rng = np.random.default_rng(seed)
    primary = rng.integers(0, n_communities, n_users)
    second = np.where(
        rng.random(n_users) < p_second, rng.integers(0, n_communities, n_users), primary
    )
    communities = [sorted({int(a), int(b)}) for a, b in zip(primary, second, strict=True)]
    members = [np.flatnonzero((primary == c) | (second == c)) for c in range(n_communities)]
    degree = np.minimum(
        np.ceil((rng.pareto(2.5, n_users) + 1) * mean_degree * 0.6), n_users // 4
    ).astype(int)
    src = np.repeat(np.arange(n_users), degree)
    within = rng.random(len(src)) < p_within
    use_second = rng.random(len(src)) < 0.5
    community = np.where(use_second, second[src], primary[src])
    dst = rng.integers(0, n_users, len(src))
    for c in range(n_communities):
        pick = within & (community == c)
        dst[pick] = members[c][rng.integers(0, len(members[c]), int(pick.sum()))]
    keep = src != dst
    return np.column_stack([src[keep], dst[keep]]), communities


def write_quickstart(folder: Path, table: str = QUICKSTART_TABLE, seed: int = 0) -> Path:
    """Write the synthetic data and its spec into ``folder``; returns the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    n_communities = 12
    edges, communities = make_social_graph(n_communities=n_communities, seed=seed)
    with gzip.open(folder / "edges.tsv.gz", "wt") as fh:
        fh.write("src\tdst\n")
        fh.writelines(f"u{a}\tu{b}\n" for a, b in edges)
    with (folder / "labels.tsv").open("w") as fh:
        fh.write("user\tcommunity\n")
        fh.writelines(f"u{user}\tc{c}\n" for user, labels in enumerate(communities) for c in labels)
    spec_path = folder / "quickstart.yaml"
    spec_path.write_text(_SPEC.format(table=table, n_communities=n_communities))
    return spec_path
