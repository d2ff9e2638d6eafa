"""Relation operators turn with an alignment rotation, and every score stays the same."""

from __future__ import annotations

import numpy as np
import pytest

from embank.errors import ValidationError
from embank.refresh import apply_operator, rotate_operators

DIM = 12


@pytest.fixture(scope="module")
def setup(make):
    rng = np.random.default_rng(0)
    src = rng.standard_normal((50, DIM))
    dst = rng.standard_normal((40, DIM))
    operators = {
        "follows": {
            "operator": "identity",
            "src_entity": "user",
            "dst_entity": "user",
            "params": [],
        },
        "likes": {
            "operator": "translation",
            "src_entity": "user",
            "dst_entity": "item",
            "params": rng.standard_normal(DIM).tolist(),
        },
        "buys": {
            "operator": "diagonal",
            "src_entity": "user",
            "dst_entity": "item",
            "params": rng.uniform(0.5, 2.0, DIM).tolist(),
        },
    }
    return src, dst, operators, make.rotation(DIM, seed=4)


def _scores(src, dst, operator, comparator):
    transformed = apply_operator(operator, dst)
    if comparator == "cosine":
        src = src / np.linalg.norm(src, axis=1, keepdims=True)
        transformed = transformed / np.linalg.norm(transformed, axis=1, keepdims=True)
    return src @ transformed.T


@pytest.mark.parametrize("comparator", ["dot", "cosine"])
@pytest.mark.parametrize("relation", ["follows", "likes", "buys"])
def test_scores_under_rotated_operators_equal_the_originals(setup, relation, comparator):
    src, dst, operators, rotation = setup
    rotated = rotate_operators(operators, rotation)
    before = _scores(src, dst, operators[relation], comparator)
    after = _scores(src @ rotation, dst @ rotation, rotated[relation], comparator)
    np.testing.assert_allclose(after, before, atol=1e-10)


def test_the_rules_for_row_vectors(setup):
    """x -> x R: a translation t -> t R (R^T t for columns), a diagonal D -> R^T D R."""
    _, _, operators, rotation = setup
    rotated = rotate_operators(operators, rotation)
    t = np.asarray(operators["likes"]["params"])
    np.testing.assert_allclose(rotated["likes"]["params"], rotation.T @ t)
    w = np.asarray(operators["buys"]["params"])
    assert rotated["buys"]["operator"] == "linear"
    np.testing.assert_allclose(rotated["buys"]["params"], rotation.T @ np.diag(w) @ rotation)
    assert rotated["follows"] == operators["follows"]
    assert rotated["likes"]["src_entity"] == "user"  # everything else is kept
    assert operators["buys"]["operator"] == "diagonal"  # the input is left alone


def test_rotations_compose(setup, make):
    src, dst, operators, rotation = setup
    second = make.rotation(DIM, seed=8)
    twice = rotate_operators(rotate_operators(operators, rotation), second)
    once = rotate_operators(operators, rotation @ second)
    for relation in operators:
        np.testing.assert_allclose(twice[relation]["params"], once[relation]["params"], atol=1e-12)
        before = _scores(src, dst, operators[relation], "dot")
        after = _scores(src @ rotation @ second, dst @ rotation @ second, twice[relation], "dot")
        np.testing.assert_allclose(after, before, atol=1e-10)


def test_unknown_kind_and_wrong_size_are_refused(setup):
    _, _, _, rotation = setup
    with pytest.raises(ValidationError, match="unknown operator"):
        rotate_operators({"r": {"operator": "complex", "params": []}}, rotation)
    with pytest.raises(ValidationError, match="do not fit"):
        rotate_operators({"r": {"operator": "translation", "params": [1.0, 2.0]}}, rotation)
