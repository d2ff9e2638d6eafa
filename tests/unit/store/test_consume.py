"""Handing a version to training code: PyTorch nn.Embedding and gensim KeyedVectors."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import embank
from embank.errors import MissingExtraError, NotFoundError, UsageError
from embank.store.export import export
from embank.vector_table import VectorTable


def _table(n=60, dim=8, seed=0, entity="user"):
    rng = np.random.default_rng(seed)
    return VectorTable.single_entity(
        entity, [f"k{i}" for i in range(n)], rng.standard_normal((n, dim))
    )


def _co_table():
    rng = np.random.default_rng(1)
    return VectorTable(
        np.array(["user"] * 3 + ["item"] * 2, dtype=object),
        np.array(["1", "2", "3", "1", "2"], dtype=object),
        rng.standard_normal((5, 4)),
    )


@pytest.fixture
def emb(tmp_path):
    return embank.open(tmp_path).publish("demo/t", _table())


def _train(module, index, steps=30):
    """A few Adam steps of a tiny regressor whose first layer is ``module``."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(module, torch.nn.Linear(module.embedding_dim, 1))
    target = torch.randn(len(index), 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=0.05)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(index), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_torch_embedding_fine_tunes_when_not_frozen(emb):
    torch = pytest.importorskip("torch")
    te = emb.to_torch_embedding(freeze=False)
    assert te.module.weight.dtype == torch.float32 and te.module.weight.requires_grad
    assert (te.table, te.version, te.space_id) == ("demo/t", 1, emb.space_id)
    before = te.module.weight.detach().clone()
    losses = _train(te.module, te.lookup(emb.keys[:20]))
    assert losses[-1] < losses[0] * 0.5
    assert not torch.equal(before, te.module.weight.detach())
    # a copy: the bank's vectors stay as published
    np.testing.assert_array_equal(before.numpy(), emb.to_numpy())


def test_torch_embedding_frozen_keeps_weights(emb):
    torch = pytest.importorskip("torch")
    te = emb.to_torch_embedding()
    assert te.module.weight.requires_grad is False
    before = te.module.weight.detach().clone()
    losses = _train(te.module, te.lookup(emb.keys[:20]))
    assert losses[-1] < losses[0]  # the head still learns
    assert torch.equal(before, te.module.weight.detach())


def test_lookup_maps_keys_to_their_rows(emb):
    pytest.importorskip("torch")
    te = emb.to_torch_embedding()
    keys = ["k7", "k0", "k59", "k7", "k31"]
    rows = te.lookup(keys)
    assert rows.dtype.is_floating_point is False and str(rows.dtype) == "torch.int64"
    np.testing.assert_array_equal(te.module(rows).detach().numpy(), emb.vectors(keys))
    assert te.index_to_key == list(emb.keys)
    assert all(te.key_to_index[k] == i for i, k in enumerate(te.index_to_key))
    with pytest.raises(NotFoundError, match=r"2 key\(s\) not in demo/t@1.*'nope'.*'k99'"):
        te.lookup(["k1", "nope", "k99"])
    with pytest.raises(UsageError, match="padding=True"):
        te.lookup(["nope"], missing="padding")


def test_padding_row_and_int_keys(tmp_path):
    pytest.importorskip("torch")
    table = VectorTable.single_entity("node", ["10", "9"], np.ones((2, 3), np.float32))
    emb = embank.open(tmp_path).publish("demo/ints", table)
    te = emb.to_torch_embedding(padding=True)
    assert te.padding_idx == 2 and te.module.padding_idx == 2
    assert te.module.weight.shape == (3, 3)
    assert not te.module.weight[2].any()
    assert te.lookup([9, 10, "x"], missing="padding").tolist() == [1, 0, 2]


def test_torch_embedding_of_one_entity_or_all(tmp_path):
    pytest.importorskip("torch")
    emb = embank.open(tmp_path).publish("demo/co", _co_table())
    items = emb.to_torch_embedding(entity="item")
    assert items.index_to_key == ["1", "2"] and items.entity == "item"
    np.testing.assert_array_equal(
        items.module(items.lookup(["2"])).detach().numpy(), emb.vectors(["2"], entity="item")
    )
    every = emb.to_torch_embedding()
    assert every.entity is None
    assert every.index_to_key == ["item:1", "item:2", "user:1", "user:2", "user:3"]
    np.testing.assert_array_equal(every.module.weight.detach().numpy(), emb.to_numpy())
    with pytest.raises(NotFoundError, match="no entity type"):
        emb.to_torch_embedding(entity="shop")


def test_missing_extras_say_what_to_install(emb, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r'pip install "embank\[torch\]"'):
        emb.to_torch_embedding()
    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(MissingExtraError, match=r'pip install "embank\[walks\]"'):
        emb.to_keyedvectors()
    assert MissingExtraError.exit_code == 2


def test_gensim_reads_w2v_export_with_the_same_neighbours(emb, tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    (path,) = export(emb, "w2v", tmp_path / "v.txt")
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert kv.index_to_key == [f"user:{k}" for k in emb.keys]
    np.testing.assert_allclose(kv.vectors, emb.to_numpy(), rtol=1e-7)
    assert emb.metric == "cosine"
    for key in ["k0", "k13", "k42"]:
        ours = emb.neighbors(key, k=5)
        theirs = kv.most_similar(f"user:{key}", topn=5)
        assert [name for name, _ in theirs] == [f"user:{n.key}" for n in ours]
        np.testing.assert_allclose([s for _, s in theirs], [n.score for n in ours], atol=1e-5)


def test_to_keyedvectors_holds_the_same_vectors(emb, tmp_path):
    pytest.importorskip("gensim")
    kv = emb.to_keyedvectors()
    assert kv.index_to_key == list(emb.keys)
    np.testing.assert_array_equal(kv.vectors, emb.to_numpy())
    np.testing.assert_array_equal(kv["k5"], emb.vectors(["k5"])[0])
    assert [n for n, _ in kv.most_similar("k5", topn=3)] == [
        n.key for n in emb.neighbors("k5", k=3)
    ]
    co = embank.open(tmp_path / "co").publish("demo/co", _co_table())
    assert co.to_keyedvectors().index_to_key == [
        "item:1",
        "item:2",
        "user:1",
        "user:2",
        "user:3",
    ]
    users = co.to_keyedvectors(entity="user")
    assert users.index_to_key == ["1", "2", "3"]
    np.testing.assert_array_equal(users["2"], co.vectors(["2"], entity="user")[0])


def test_docs_consume_snippets_run(tmp_path, monkeypatch):
    """docs/consume.md says its snippets run top to bottom in an empty folder; they do."""
    pytest.importorskip("torch")
    pytest.importorskip("gensim")
    doc = Path(__file__).resolve().parents[3] / "docs" / "consume.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)
    summary = namespace["joined"].attrs["embank_join"]
    assert (summary.n_joined, summary.n_no_version, summary.n_missing_key) == (2, 1, 1)
    assert namespace["mixed"]["version"].tolist() == [1, 2, 2, 2]
    assert (tmp_path / "out" / "projector" / "metadata.tsv").exists()
