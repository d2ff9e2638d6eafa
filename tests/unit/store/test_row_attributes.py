"""Per-row attributes stored with a version (a fold-in's ``folded`` and ``support``), the
version's kind, and joining a space at publish."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import embank
from embank.errors import ValidationError
from embank.vector_table import VectorTable


def _table() -> VectorTable:
    rng = np.random.default_rng(0)
    entities = ["user", "item", "user", "item"]
    return VectorTable(entities, ["b", "x", "a", "y"], rng.random((4, 3)))


def test_row_attributes_are_stored_in_row_order(tmp_path):
    given = pd.DataFrame(
        {"entity": ["user", "item", "user"], "key": ["a", "y", "b"], "support": [3, 1, 7]}
    )
    with embank.open(tmp_path / "bank") as bank:
        emb = bank.publish("demo/t", _table(), row_attributes=given, kind="patch")
        stored = emb.row_attributes()
        assert list(zip(stored["entity"], stored["key"], strict=True)) == list(
            zip(emb.entities, emb.keys, strict=True)
        )
        by_key = stored.set_index(["entity", "key"])["support"].to_dict()
        assert by_key[("user", "a")] == 3 and by_key[("user", "b")] == 7
        assert pd.isna(by_key[("item", "x")])  # a row the attributes lack gets null
        assert emb.version_info.kind == "patch"
        assert not emb.verify()  # in the manifest, checksum and all
        plain = bank.publish("demo/t", _table())
        assert plain.row_attributes() is None and plain.version_info.kind == "full"


def test_publish_checks_kind_and_space_id(tmp_path):
    with embank.open(tmp_path / "bank") as bank:
        with pytest.raises(ValidationError, match="kind='delta'"):
            bank.publish("demo/t", _table(), kind="delta")
        with pytest.raises(ValidationError, match="space_id"):
            bank.publish("demo/t", _table(), space_id="x" * 40)
        first = bank.publish("demo/t", _table())
        again = bank.publish("demo/t", _table(), space_id=first.space_id)
        assert again.space_id == first.space_id
        assert bank.publish("demo/t", _table()).space_id != first.space_id
