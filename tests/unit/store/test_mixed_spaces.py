"""The Python API refuses to mix vectors of two spaces."""

from __future__ import annotations

import numpy as np
import pytest

import embank
from embank.errors import MixedSpacesError, ValidationError
from embank.vector_table import VectorTable


def _table(seed: int) -> VectorTable:
    rng = np.random.default_rng(seed)
    return VectorTable.single_entity("user", [f"u{i}" for i in range(50)], rng.random((50, 4)))


def test_neighbors_by_vector_refuses_a_vector_of_another_space(tmp_path):
    with embank.open(tmp_path / "bank") as bank:
        v1 = bank.publish("demo/t", _table(1))
        v2 = bank.publish("demo/t", _table(2))
        same = bank.publish("demo/t", _table(2), space_id=v2.space_id)
        assert same.space_id == v2.space_id != v1.space_id
        vector = v1.vectors(["u7"])[0]
        with pytest.raises(MixedSpacesError, match=v1.space_id) as caught:
            v2.neighbors_by_vector(vector, k=3, space_id=v1.space_id)
        assert isinstance(caught.value, ValidationError) and caught.value.http_status == 409
        assert caught.value.kind == "mixed_spaces_error"
        # its own space, one that shares it, or no claim at all: answered
        assert v1.neighbors_by_vector(vector, k=1, space_id=v1.space_id)[0].key == "u7"
        own = v2.vectors(["u7"])[0]
        assert same.neighbors_by_vector(own, k=1, space_id=v2.space_id)[0].key == "u7"
        assert len(v2.neighbors_by_vector(vector, k=3)) == 3
