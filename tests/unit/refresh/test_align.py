"""Alignment: a rotation only, matched by key, fitted on well-supported keys."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.linalg

from embank.errors import ValidationError
from embank.refresh import Alignment, align, drift, fit_alignment, procrustes_rotation, rotate
from embank.vector_table import VectorTable


def _rotated(table: VectorTable, rotation: np.ndarray) -> VectorTable:
    return VectorTable(table.entities, table.keys, table.vectors @ rotation.astype(np.float32))


def _cosines(vectors: np.ndarray) -> np.ndarray:
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


def test_a_rotated_copy_aligns_back_with_no_residual(table, make):
    rotation = make.rotation(table.dim)
    aligned, alignment = align(_rotated(table, rotation), table)
    assert alignment.residual_after < 1e-6
    assert alignment.residual_before > 0.5
    np.testing.assert_allclose(alignment.rotation, rotation.T, atol=1e-5)
    np.testing.assert_allclose(aligned.vectors, table.vectors, atol=1e-5)
    assert alignment.n_keys == alignment.n_shared == table.n_rows


def test_alignment_loses_nothing_within_the_version(table, make):
    """Neighbours and cosines of the new version are the same before and after rotation."""
    noisy = VectorTable(
        table.entities,
        table.keys,
        _rotated(table, make.rotation(table.dim)).vectors
        + 0.3 * np.random.default_rng(2).standard_normal(table.vectors.shape).astype(np.float32),
    )
    aligned, alignment = align(noisy, table)
    assert alignment.residual_after < alignment.residual_before
    within = drift(noisy, aligned, n_queries=2000)
    assert within["drift.overlap_at_10.mean"] >= 0.999
    assert within["drift.overlap_at_10.p10"] >= 0.999
    sample = np.random.default_rng(3).choice(table.n_rows, 300, replace=False)
    change = np.abs(_cosines(aligned.vectors[sample]) - _cosines(noisy.vectors[sample]))
    assert change.max() <= 1e-5
    norms_before = np.linalg.norm(noisy.vectors, axis=1)
    np.testing.assert_allclose(np.linalg.norm(aligned.vectors, axis=1), norms_before, rtol=1e-5)


def test_rotation_is_scipys_orthogonal_procrustes(table, make):
    target = make.clustered(table.n_rows, table.dim, seed=5)
    ours = procrustes_rotation(table.vectors, target)
    theirs, _ = scipy.linalg.orthogonal_procrustes(
        table.vectors.astype(np.float64), target.astype(np.float64)
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    np.testing.assert_allclose(ours @ ours.T, np.eye(table.dim), atol=1e-10)


def test_rows_are_matched_by_key_not_position(table, make):
    rotation = make.rotation(table.dim)
    order = np.random.default_rng(4).permutation(table.n_rows)[: table.n_rows - 100]
    shuffled = VectorTable(table.entities[order], table.keys[order], table.vectors[order])
    aligned, alignment = align(_rotated(shuffled, rotation), table)
    assert alignment.residual_after < 1e-6 and alignment.n_shared == len(order)
    np.testing.assert_allclose(aligned.vectors, table.vectors[order], atol=1e-5)
    assert list(aligned.keys) == list(shuffled.keys)


def test_only_well_supported_keys_anchor_the_rotation(table, make):
    rotation = make.rotation(table.dim)
    new = _rotated(table, rotation).vectors.copy()
    support = np.full(table.n_rows, 100.0)
    # a quarter of the keys barely seen, their new vectors meaningless
    weak = np.arange(0, table.n_rows, 4)
    support[weak] = 2
    new[weak] = make.clustered(len(weak), table.dim, seed=9)
    new_table = VectorTable(table.entities, table.keys, new)
    alignment = fit_alignment(new_table, table, support=support)
    assert alignment.n_keys == table.n_rows - len(weak) and not alignment.fallback
    assert alignment.min_support == 50
    assert alignment.residual_after < 1e-6
    everything = fit_alignment(new_table, table)
    assert everything.residual_after > 0.1  # garbage keys bend an unfiltered fit


def test_too_few_supported_keys_fall_back_to_all_shared(table, caplog, make):
    support = np.zeros(table.n_rows)
    support[: 2 * table.dim - 1] = 60
    with caplog.at_level(logging.WARNING, logger="embank.refresh.align"):
        alignment = fit_alignment(_rotated(table, make.rotation(table.dim)), table, support)
    assert alignment.fallback and alignment.n_keys == table.n_rows
    assert "fewer than 2 * dim" in caplog.text


def test_support_may_be_a_mapping_by_key(table, make):
    support = {key: (100 if i % 2 else 0) for i, key in enumerate(table.keys)}
    alignment = fit_alignment(_rotated(table, make.rotation(table.dim)), table, support)
    assert alignment.n_keys == table.n_rows // 2


def test_co_embedded_users_and_items_turn_with_one_matrix(make):
    rng = np.random.default_rng(6)
    users, items = make.clustered(600, 16, seed=1), make.clustered(400, 16, seed=2)
    previous = VectorTable(
        np.array(["item"] * 400 + ["user"] * 600, dtype=object),
        np.concatenate([make.keys(400), make.keys(600)]),
        np.vstack([items, users]),
    )
    rotation = make.rotation(16, seed=3)
    noise = 0.05 * rng.standard_normal(previous.vectors.shape).astype(np.float32)
    new = VectorTable(previous.entities, previous.keys, previous.vectors @ rotation + noise)
    aligned, alignment = align(new, previous)
    assert alignment.residual_after < 0.1 < alignment.residual_before
    # user . item scores of the new version are unchanged by the one rotation
    before = new.vectors[400:].astype(np.float64) @ new.vectors[:400].T
    after = aligned.vectors[400:].astype(np.float64) @ aligned.vectors[:400].T
    np.testing.assert_allclose(after, before, atol=1e-4)
    # and both entities land on the previous version
    for block in (slice(0, 400), slice(400, 1000)):
        gap = np.linalg.norm(aligned.vectors[block] - previous.vectors[block])
        assert gap / np.linalg.norm(previous.vectors[block]) < 0.1


def test_new_keys_are_rotated_too(table, make):
    rotation = make.rotation(table.dim)
    extra = VectorTable.single_entity("node", ["zz-new"], np.ones((1, table.dim), np.float32))
    new = VectorTable(
        np.concatenate([table.entities, extra.entities]),
        np.concatenate([table.keys, extra.keys]),
        np.vstack([table.vectors, extra.vectors]) @ rotation.astype(np.float32),
    )
    aligned, alignment = align(new, table)
    assert alignment.n_shared == table.n_rows
    np.testing.assert_allclose(aligned.vectors[-1], np.ones(table.dim), atol=1e-5)


def test_refuses_other_dims_and_no_shared_key(table, make):
    other_dim = VectorTable.single_entity("node", table.keys, table.vectors[:, :8])
    with pytest.raises(ValidationError, match="dim"):
        align(other_dim, table)
    strangers = VectorTable.single_entity("node", make.keys(10, "x"), table.vectors[:10])
    with pytest.raises(ValidationError, match="share no"):
        align(strangers, table)
    with pytest.raises(ValidationError, match="rotation of shape"):
        rotate(table, np.eye(3))


def test_alignment_saves_as_json_and_npy(table, tmp_path, make):
    _, alignment = align(_rotated(table, make.rotation(table.dim)), table)
    alignment.save(tmp_path)
    loaded = Alignment.load(tmp_path)
    np.testing.assert_array_equal(loaded.rotation, alignment.rotation)
    assert loaded.to_dict() == alignment.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alignment.json", "rotation.npy"]
