"""The content hash: the same digest as its definition, row by row, at any size."""

import hashlib

import numpy as np
import pytest

from embank.store import files
from embank.vector_table import VectorTable


def _by_definition(table: VectorTable) -> str:
    digest = hashlib.sha256()
    for entity, key in zip(table.entities, table.keys, strict=True):
        for text in (entity, key):
            data = text.encode("utf-8")
            digest.update(len(data).to_bytes(4, "little"))
            digest.update(data)
    digest.update(np.ascontiguousarray(table.vectors, dtype="<f4").tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_content_hash_matches_its_definition(n, monkeypatch):
    rng = np.random.default_rng(n)
    alphabet = list("ab:é漢 x\x1f1")
    keys = ["".join(rng.choice(alphabet, size=rng.integers(1, 12))) + str(i) for i in range(n)]
    entities = rng.choice(["user", "item", "a_very_long_entity_name"], size=n)
    table = VectorTable(entities, keys, rng.standard_normal((n, 3)))
    assert files.content_hash(table) == _by_definition(table)
    monkeypatch.setattr(files, "_HASH_ROWS", 3)  # several chunks
    assert files.content_hash(table) == _by_definition(table)
