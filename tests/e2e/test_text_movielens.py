"""Text embeddings and feature compression on MovieLens 100K.

Titles: the 1,682 movie titles embedded with the bundled all-MiniLM-L6-v2; a title's 10
nearest titles (cosine, itself excluded) should share a genre with it more often than two
random movies do (the genre prior). Users: gender, occupation and age compressed to a few
dimensions; the report must show gender and occupation still predictable above majority.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from embank.algorithms.compress import FeatureCompression
from embank.algorithms.text import TextEncoder
from embank.data.attributes import Features, Texts
from embank.data.graph import Dataset

pytestmark = pytest.mark.realdata

K = 10


def _bytewise(keys: pd.Series) -> pd.Series:
    return keys.map(lambda key: key.encode())


@pytest.fixture(scope="module")
def items(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        shared_data / "movielens-100k" / "items.tsv",
        sep="\t",
        dtype={"item": str, "title": str, "genres": str},
        keep_default_na=False,
    )
    return frame.sort_values("item", key=_bytewise, ignore_index=True)


@pytest.fixture(scope="module")
def users(shared_data: Path) -> Features:
    frame = pd.read_csv(shared_data / "movielens-100k" / "users.tsv", sep="\t", dtype={"user": str})
    frame = frame.sort_values("user", key=_bytewise, ignore_index=True)
    blocks, columns, groups = [], [], {}
    for group in ["gender", "occupation"]:
        one_hot = pd.get_dummies(frame[group]).astype(np.float32)
        groups[group] = list(range(len(columns), len(columns) + one_hot.shape[1]))
        columns += [f"{group}={value}" for value in one_hot.columns]
        blocks.append(one_hot.to_numpy())
    groups["age"] = [len(columns)]
    columns.append("age")
    blocks.append(frame[["age"]].to_numpy(np.float32))
    return Features(
        entity="user",
        keys=frame["user"].to_numpy(object),
        matrix=sp.csr_matrix(np.hstack(blocks)),
        columns=columns,
        groups=groups,
    )


def _genre_matrix(genres: pd.Series) -> np.ndarray:
    """Items x genres, True where the item has the genre."""
    names = sorted({g for value in genres for g in value.split("|") if g})
    position = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(genres), len(names)), dtype=bool)
    for i, value in enumerate(genres):
        for genre in value.split("|"):
            if genre:
                matrix[i, position[genre]] = True
    return matrix


def test_title_neighbours_share_genres_above_the_prior(items):
    texts = Texts(entity="item", keys=items["item"].to_numpy(object), texts=items["title"].tolist())
    table = TextEncoder({"seed": 0}).fit(Dataset(texts=texts)).embeddings
    assert table.vectors.shape == (1_682, 384)
    assert np.isfinite(table.vectors).all()

    genres = _genre_matrix(items["genres"])
    shares = (genres.astype(np.int32) @ genres.T.astype(np.int32)) > 0
    n = len(items)
    # Exact: every ordered pair of two different movies.
    prior = float((shares.sum() - np.trace(shares)) / (n * (n - 1)))

    unit = table.vectors / np.linalg.norm(table.vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    neighbours = np.argpartition(-cosine, K, axis=1)[:, :K]
    precision = float(np.take_along_axis(shares, neighbours, axis=1).mean())
    message = (
        f"precision@{K} of same-genre title neighbours {precision:.3f}, genre prior {prior:.3f}"
    )
    print(message)
    assert precision > prior + 0.05, message


@pytest.mark.parametrize("method", ["autoencoder", "svd"])
def test_user_features_survive_compression(users, method):
    fitted = FeatureCompression({"method": method, "dim": 8, "seed": 0}).fit(
        Dataset(features=users)
    )
    assert fitted.embeddings.vectors.shape == (943, 8)
    groups = fitted.report_["groups"]
    message = ", ".join(
        f"{name} {g['metric']} {g['value']:.3f} (baseline {g['baseline']:.3f})"
        for name, g in groups.items()
    )
    print(f"{method}: {message}")
    assert groups["gender"]["value"] > groups["gender"]["baseline"] + 0.1, message
    assert groups["occupation"]["value"] > groups["occupation"]["baseline"] + 0.2, message
    assert groups["age"]["value"] > 0.5, message
