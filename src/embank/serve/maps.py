"""The 2-D map of a version: a seeded sample of its rows laid out in the plane, for people.

At most :data:`MAX_POINTS` rows, drawn with a fixed seed, are laid out by UMAP
(umap-learn, on an exact k-nearest-neighbour graph of the unit-length vectors) or, for a
table under :data:`UMAP_FROM_ROWS` rows or without umap-learn, by the top two principal
components. Each point keeps its key, entity type and, where the version was published
with labels, its most common label (the :data:`TOP_LABELS` most common labels of the
sample get a colour each; the rest are ``other``).

A map is drawn once, right after a publish commits (``embank run``), or on its first view
in the web UI, and stored as the version's ``map2d`` artifact (``Bank.put_artifact``);
pages only ever read that stored sample, so the map of a table of any size loads at once.
Needs numpy only; UMAP needs ``embank[serve]``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from embank._version import __version__
from embank.errors import EmbankError
from embank.store.bank import Bank
from embank.store.embedding import Embedding

__all__ = [
    "MAP_KIND",
    "MAX_POINTS",
    "TOP_LABELS",
    "UMAP_FROM_ROWS",
    "build_map",
    "ensure_map",
    "store_map",
    "stored_map",
    "stored_map_at",
]

log = logging.getLogger(__name__)

MAP_KIND = "map2d"
#: the layout of the stored map; a stored map of another format is drawn again
MAP_FORMAT = 1
MAX_POINTS = 5_000
UMAP_FROM_ROWS = 1_000
TOP_LABELS = 9
N_NEIGHBORS = 15
MIN_DIST = 0.1
N_EPOCHS = 200  # UMAP's own choice for large data; 500 (its default here) doubles the time
_BLOCK_ROWS = 1_024  # rows per block of the k-NN search: 1,024 x 5,000 float32 = 20 MB


def build_map(embedding: Embedding, max_points: int = MAX_POINTS, seed: int = 0) -> dict[str, Any]:
    """The map of ``embedding`` as JSON-ready data (see :class:`~embank.serve.models.MapResult`
    for the fields); reads only the sampled rows of the vectors and the key columns."""
    start = time.perf_counter()
    n_rows = embedding.n_rows
    rng = np.random.default_rng(seed)
    if n_rows <= max_points:
        rows = np.arange(n_rows)
    else:
        rows = np.sort(rng.choice(n_rows, size=max_points, replace=False))
    vectors = np.asarray(embedding.to_numpy()[rows], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    method, params = "pca", {}
    coords = None
    if len(rows) >= UMAP_FROM_ROWS:
        try:
            coords = _umap(unit, seed)
            method, params = "umap", {"n_neighbors": N_NEIGHBORS, "min_dist": MIN_DIST}
            params["n_epochs"] = N_EPOCHS
        except ImportError:
            log.info("umap-learn is not installed: the map of %s is drawn by PCA", embedding.name)
    if coords is None:
        coords = _pca(unit)
    x, y = _unit_square(coords)

    columns = embedding.local.key_columns.take(pa.array(rows))
    keys = columns.column("key").to_pylist()
    entity_of = _text(columns.column("entity"))
    entity_names = sorted(set(entity_of))
    entity_index = {name: i for i, name in enumerate(entity_names)}
    label_names, label, label_entity = _labels(embedding, keys, entity_of)
    n_labelled = sum(1 for i in label if i >= 0)
    color_by = "label" if n_labelled else ("entity" if len(entity_names) > 1 else None)
    return {
        "format": MAP_FORMAT,
        "method": method,
        "params": params,
        "seed": seed,
        "n_rows": n_rows,
        "n_points": len(rows),
        "color_by": color_by,
        "entity_names": entity_names,
        "entity": [entity_index[e] for e in entity_of],
        "label_entity": label_entity,
        "label_names": label_names,
        "label": label,
        "n_labelled": n_labelled,
        "keys": keys,
        "x": x,
        "y": y,
        "build_s": round(time.perf_counter() - start, 3),
        "code_version": f"embank {__version__}",
    }


def stored_map(bank: Bank, embedding: Embedding) -> dict[str, Any] | None:
    """The version's stored map, or None when it has none (of this format)."""
    return stored_map_at(bank, embedding.name, embedding.version)


def stored_map_at(bank: Bank, name: str, number: int) -> dict[str, Any] | None:
    """The stored map of version ``number`` of table ``name`` (one registry read)."""
    meta = bank.get_artifact(name, number, MAP_KIND)
    if meta is None or meta.get("format") != MAP_FORMAT:
        return None
    return meta


def store_map(bank: Bank, embedding: Embedding) -> dict[str, Any]:
    """Draw the version's map and store it as its ``map2d`` artifact; returns it."""
    data = build_map(embedding)
    bank.put_artifact(embedding.name, embedding.version, MAP_KIND, data)
    log.info(
        "drew the %s map of %s@%s (%d points) in %.1f s",
        data["method"],
        embedding.name,
        embedding.version,
        data["n_points"],
        data["build_s"],
    )
    return data


def ensure_map(bank: Bank, embedding: Embedding) -> dict[str, Any]:
    """The stored map, else a fresh one, stored when the registry takes the write (a map
    that could not be stored is still answered, and drawn again next time)."""
    found = stored_map(bank, embedding)
    if found is not None:
        return found
    data = build_map(embedding)
    try:
        bank.put_artifact(embedding.name, embedding.version, MAP_KIND, data)
    except EmbankError as exc:
        log.warning("the map of %s@%s was not stored: %s", embedding.name, embedding.version, exc)
    return data


# -- layouts -----------------------------------------------------------------------------


def _umap(unit: np.ndarray, seed: int) -> np.ndarray:
    """UMAP of unit-length rows, on their exact k-NN graph (pynndescent is slower to
    compile than an exact search of a few thousand rows takes)."""
    import umap  # ImportError without umap-learn: the caller falls back to PCA

    indices, distances = _knn(unit, N_NEIGHBORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by the seed, spectral init notes
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=N_NEIGHBORS,
            min_dist=MIN_DIST,
            n_epochs=N_EPOCHS,
            metric="euclidean",
            random_state=seed,
            n_jobs=1,
            precomputed_knn=(indices, distances, None),
        )
        return np.asarray(reducer.fit_transform(unit), dtype=np.float64)


def _knn(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows by euclidean distance of unit vectors, itself first."""
    n = len(unit)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, _BLOCK_ROWS):
        hi = min(lo + _BLOCK_ROWS, n)
        similarity = unit[lo:hi] @ unit.T
        similarity[np.arange(hi - lo), np.arange(lo, hi)] = np.inf  # itself, first
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(similarity, top, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        indices[lo:hi] = np.take_along_axis(top, order, axis=1)
        best = np.minimum(np.take_along_axis(scores, order, axis=1), 1.0)
        distances[lo:hi] = np.sqrt(np.maximum(2.0 - 2.0 * best, 0.0))
    return indices, distances


def _pca(unit: np.ndarray) -> np.ndarray:
    """The top two principal components (signs fixed, so the map is the same every time)."""
    n = len(unit)
    coords = np.zeros((n, 2))
    if n < 2:
        return coords
    centred = unit.astype(np.float64) - unit.mean(axis=0, dtype=np.float64)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    coords[:, : len(components)] = centred @ (components * signs[:, None]).T
    return coords


def _unit_square(coords: np.ndarray) -> tuple[list[float], list[float]]:
    """Coordinates scaled into [0, 1] per axis by their 0.5th and 99.5th percentiles, so a
    few far-off points do not squeeze the rest into a corner (those sit on the border)."""
    low = np.percentile(coords, 0.5, axis=0)
    high = np.percentile(coords, 99.5, axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    scaled = np.clip((coords - low) / span, 0.0, 1.0)
    rounded = np.round(scaled, 4)
    return rounded[:, 0].tolist(), rounded[:, 1].tolist()


# -- colours -----------------------------------------------------------------------------


def _text(column: pa.ChunkedArray) -> list[str]:
    array = column.combine_chunks()
    if isinstance(array, pa.DictionaryArray):
        array = array.dictionary_decode()
    return array.to_pylist()


def _labels(
    embedding: Embedding, keys: list[str], entity_of: list[str]
) -> tuple[list[str], list[int], str | None]:
    """(label names, each point's label index, the labelled entity type): the
    :data:`TOP_LABELS` most common labels of the sample, then ``other``; -1: no label."""
    labels = embedding.labels()
    if labels is None:
        return [], [-1] * len(keys), None
    sampled = {k for k, e in zip(keys, entity_of, strict=True) if e == labels.entity}
    pairs = labels.pairs[labels.pairs["key"].isin(sampled)]
    sets: dict[str, list[str]] = {}
    for key, label in zip(pairs["key"].astype(str), pairs["label"].astype(str), strict=True):
        sets.setdefault(key, []).append(label)
    counts = Counter(label for found in sets.values() for label in set(found))
    ranked = sorted(counts, key=lambda label: (-counts[label], label))
    top = ranked[:TOP_LABELS]
    names = [*top, "other"] if len(ranked) > TOP_LABELS else top
    index = {name: i for i, name in enumerate(top)}
    other = len(top)
    point_labels = []
    for key, entity in zip(keys, entity_of, strict=True):
        found = sets.get(key) if entity == labels.entity else None
        if not found:
            point_labels.append(-1)
            continue
        best = min(found, key=lambda label: (-counts[label], label))
        point_labels.append(index.get(best, other))
    return names, point_labels, labels.entity
