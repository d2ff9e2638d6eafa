"""The contract every registered algorithm passes, built-in or plugin (STYLE.md habit 6).

The suite runs over ``algorithms.names()`` as the registry sees it at import time, so an
installed plugin package is checked like a built-in one without being named here. Each
algorithm is fitted on the one shared dataset of ``conftest.py`` (every part present)
with the small, fast params of ``FAST_PARAMS`` (default ``{"dim": 8, "seed": 0}``), and
``n_threads=1`` wherever its Params has that field. Fits are cached per session.

``EMBEDS`` says which part each known algorithm embeds; for any other one the part is
inferred from its fitted table (the parts' key sets all differ), so a new plugin needs
no edit here unless it wants faster params.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points
from typing import Any, NamedTuple

import numpy as np
import pydantic
import pytest

from embank.algorithms import Algorithm, NotFittedError, algorithms
from embank.data.graph import Dataset
from embank.errors import DataError, EmbankError, UsageError
from embank.progress import RecordingProgress
from embank.vector_table import VectorTable

ALGORITHMS = algorithms.names()
DEFAULT_PARAMS: dict[str, Any] = {"dim": 8, "seed": 0}
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "spectral": {"dim": 8, "seed": 0},
    "node2vec": {"dim": 8, "seed": 0, "walks_per_node": 2, "walk_length": 10, "window": 3},
    "als": {"dim": 8, "seed": 0, "iterations": 3},
    "item2vec": {"dim": 8, "seed": 0, "epochs": 5},
    "twhin": {"dim": 8, "seed": 0, "epochs": 2, "batch_size": 64},
    "text": {"dim": 384, "seed": 0, "batch_size": 16},  # dim is the model's
    "compress": {"dim": 8, "seed": 0, "epochs": 3, "hidden": 16, "batch_size": 16},
    "hashing": {"dim": 8, "seed": 0},
}


class Target(NamedTuple):
    """What an algorithm embeds: a Dataset attribute, its spec section, which rows."""

    part: str
    section: str
    sides: tuple[str, ...] = ()  # interactions only: "src", "dst"


TARGETS = {
    "graph": Target("graph", "data.edges"),
    "interactions": Target("interactions", "data.interactions", ("src", "dst")),
    "interactions.dst": Target("interactions", "data.interactions", ("dst",)),
    "relations": Target("relations", "data.relations"),
    "texts": Target("texts", "data.text"),
    "features": Target("features", "data.features"),
}
EMBEDS = {
    "spectral": "graph",
    "node2vec": "graph",
    "hashing": "graph",
    "als": "interactions",
    "item2vec": "interactions.dst",
    "twhin": "relations",
    "text": "texts",
    "compress": "features",
}
# Parts an algorithm falls back to when its own is missing; all are removed to test that.
ALSO_READS = {"twhin": ("interactions", "graph")}


def _params(name: str) -> dict[str, Any]:
    params = dict(FAST_PARAMS.get(name, DEFAULT_PARAMS))
    if "n_threads" in algorithms.get(name).Params.model_fields:
        params["n_threads"] = 1
    return params


def _rows(dataset: Dataset, target: Target) -> list[tuple[str, str]]:
    """The (entity, key) rows a fit of ``target`` must give: each exactly once, sorted."""
    value = getattr(dataset, target.part)
    if target.part == "interactions":
        sides = {
            "src": (value.src_entity, value.src_keys),
            "dst": (value.dst_entity, value.dst_keys),
        }
        pairs = [sides[side] for side in target.sides]
    elif target.part == "relations":
        pairs = list(value.keys.items())
    else:
        pairs = [(value.entity, value.index_to_key if target.part == "graph" else value.keys)]
    return sorted((entity, str(key)) for entity, keys in pairs for key in keys)


def _table_rows(table: VectorTable) -> list[tuple[str, str]]:
    return sorted(zip(table.entities.tolist(), table.keys.tolist(), strict=True))


class Fit(NamedTuple):
    algorithm: Algorithm
    returned: object
    progress: RecordingProgress


_FITS: dict[str, Fit] = {}


@pytest.fixture
def fit(request: pytest.FixtureRequest, contract_dataset: Dataset) -> Fit:
    """The algorithm of this test's ``name``, fitted once per session on the shared data."""
    name = request.node.callspec.params["name"]
    if name not in _FITS:
        algorithm = algorithms.get(name)(_params(name))
        progress = RecordingProgress()
        returned = algorithm.fit(contract_dataset, progress)
        _FITS[name] = Fit(algorithm, returned, progress)
    return _FITS[name]


def _target(name: str, request: pytest.FixtureRequest, dataset: Dataset) -> Target:
    """The listed part of ``name``, else the one part whose rows its fitted table has."""
    if name in EMBEDS:
        return TARGETS[EMBEDS[name]]
    rows = _table_rows(request.getfixturevalue("fit").algorithm.embeddings)
    matches = [t for t in TARGETS.values() if _rows(dataset, t) == rows]
    if len(matches) != 1:
        pytest.fail(
            f"{name}: its {len(rows)} rows are not exactly the keys of one part of the "
            "contract dataset; add it to EMBEDS in tests/contract/test_algorithm_contract.py"
        )
    return matches[0]


def _without(dataset: Dataset, *parts: str) -> Dataset:
    return dataclasses.replace(dataset, **dict.fromkeys(parts))


def _fit_expecting_embank_error(name: str, dataset: Dataset, what: str) -> Algorithm | None:
    """Fit; an EmbankError gives None, any other exception fails the test."""
    algorithm = algorithms.get(name)(_params(name))
    try:
        return algorithm.fit(dataset)
    except EmbankError:
        return None
    except Exception as exc:
        pytest.fail(
            f"{name} on {what} raised {type(exc).__module__}.{type(exc).__name__}: {exc}; "
            "raise an embank.errors.EmbankError subclass that says what to do instead"
        )


def _assert_valid(table: object, rows: list[tuple[str, str]], dim: int | None) -> None:
    assert isinstance(table, VectorTable), f"embeddings is a {type(table).__name__}"
    assert table.vectors.dtype == np.float32, table.vectors.dtype
    assert np.isfinite(table.vectors).all(), "vectors hold NaN or infinity"
    got = _table_rows(table)
    assert len(set(got)) == len(got), "a (entity, key) row appears more than once"
    missing, extra = sorted(set(rows) - set(got)), sorted(set(got) - set(rows))
    assert got == rows, f"rows differ from the input keys: missing {missing[:5]}, extra {extra[:5]}"
    if dim is not None:
        assert table.dim == dim, f"dim {table.dim}, params say {dim}"


parametrize = pytest.mark.parametrize("name", ALGORITHMS)


def test_every_advertised_algorithm_is_registered():
    """The registry logs and skips an entry point that fails to load: catch that here."""
    advertised = {ep.name for ep in entry_points(group=algorithms.group)}
    missing = sorted(advertised - set(ALGORITHMS))
    assert not missing, f"entry points that did not load (see the warning logged): {missing}"


@parametrize
def test_every_param_has_a_description(name):
    fields = algorithms.get(name).Params.model_fields
    bare = [field for field, info in fields.items() if not (info.description or "").strip()]
    assert not bare, f"{name}: Params fields without a description: {bare}"


@parametrize
def test_unknown_param_is_rejected_at_construction(name):
    with pytest.raises(pydantic.ValidationError, match="no_such_param"):
        algorithms.get(name)({**_params(name), "no_such_param": 1})


@parametrize
def test_embeddings_before_fit_raise(name):
    with pytest.raises(NotFittedError):
        _ = algorithms.get(name)(_params(name)).embeddings


@parametrize
def test_fit_returns_self_and_valid_vectors(name, fit, request, contract_dataset):
    assert fit.returned is fit.algorithm, f"{name}.fit returned {fit.returned!r}, not self"
    target = _target(name, request, contract_dataset)
    _assert_valid(
        fit.algorithm.embeddings, _rows(contract_dataset, target), fit.algorithm.params.dim
    )


@parametrize
def test_fit_reports_progress_and_reaches_each_total(name, fit):
    assert fit.progress.tasks, f"{name}.fit opened no progress task"
    assert not fit.progress.unfinished(), f"{name}: tasks short of their total"


@parametrize
def test_two_fits_with_one_seed_are_bit_identical(name, fit, contract_dataset):
    """DESIGN.md: bit-identical for a fixed seed with ``n_threads=1``; the class flag only
    says whether that still holds with more threads, so it does not excuse this test."""
    cls = algorithms.get(name)
    if not cls.deterministic and "n_threads" not in cls.Params.model_fields:
        pytest.skip(f"{name} is not deterministic and has no n_threads to pin")
    again = cls(_params(name)).fit(contract_dataset).embeddings
    first = fit.algorithm.embeddings
    assert _table_rows(again) == _table_rows(first)
    assert np.array_equal(again.entities, first.entities) and np.array_equal(again.keys, first.keys)
    assert again.vectors.tobytes() == first.vectors.tobytes(), f"{name}: two fits differ"


@parametrize
def test_missing_part_names_its_spec_section(name, request, contract_dataset):
    target = _target(name, request, contract_dataset)
    dataset = _without(contract_dataset, target.part, *ALSO_READS.get(name, ()))
    with pytest.raises(DataError, match=target.section.replace(".", r"\.")):
        algorithms.get(name)(_params(name)).fit(dataset)


@parametrize
def test_empty_part_raises_an_embank_error(name, request, contract_dataset, empty_parts):
    target = _target(name, request, contract_dataset)
    dataset = dataclasses.replace(contract_dataset, **{target.part: empty_parts[target.part]})
    fitted = _fit_expecting_embank_error(name, dataset, f"an empty {target.section}")
    assert fitted is None, (
        f"{name} fitted an empty {target.section} ({fitted.embeddings.n_rows} rows); "
        "raise EmptySelectionError instead"
    )


@parametrize
def test_two_keys_fit_or_raise_an_embank_error(name, request, contract_dataset, tiny_parts):
    """Two keys, fewer than dim: a valid table, or an EmbankError saying why not."""
    target = _target(name, request, contract_dataset)
    dataset = dataclasses.replace(contract_dataset, **{target.part: tiny_parts[target.part]})
    fitted = _fit_expecting_embank_error(name, dataset, f"a two-key {target.section}")
    if fitted is not None:
        _assert_valid(fitted.embeddings, _rows(dataset, target), fitted.params.dim)


@parametrize
def test_warm_start_from_its_own_fit_or_refuse_it(name, fit, request, contract_dataset):
    """``init_from(previous)``: a valid table of the same rows, or a UsageError up front."""
    cls = algorithms.get(name)
    previous = fit.algorithm.embeddings
    if not cls.supports_warm_start:
        with pytest.raises(UsageError, match="cannot warm start"):
            cls(_params(name)).init_from(previous)
        return
    # the previous version in another row order: rows are matched by key
    order = np.random.default_rng(0).permutation(previous.n_rows)
    shuffled = VectorTable(previous.entities[order], previous.keys[order], previous.vectors[order])
    warm = cls(_params(name)).init_from(shuffled).fit(contract_dataset)
    target = _target(name, request, contract_dataset)
    _assert_valid(warm.embeddings, _rows(contract_dataset, target), warm.params.dim)
