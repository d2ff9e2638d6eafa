"""Hand a version to training code: a PyTorch ``nn.Embedding`` or a gensim ``KeyedVectors``.

Both hold every row of the version, or one entity type's rows, in the stored order
(sorted by entity, then key). A row is named by its plain key when the rows hold one
entity type (``entity=`` given, or a table with one entity type), else by ``entity:key``
as the flat export formats write it. torch (``embank[torch]``) and gensim
(``embank[walks]``) are optional and imported here only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embank.errors import MissingExtraError, NotFoundError, UsageError
from embank.names import key_text

if TYPE_CHECKING:
    import torch
    from gensim.models import KeyedVectors

    from embank.store.embedding import Embedding

__all__ = ["TorchEmbedding", "to_keyedvectors", "to_torch_embedding"]


@dataclass(frozen=True, eq=False)
class TorchEmbedding:
    """An ``nn.Embedding`` made from a version, with the key of each of its rows.

    ``module.weight[i]`` is the vector of ``index_to_key[i]``; ``padding_idx`` is the extra
    all-zero row when one was asked for (``padding=True``), else None.
    """

    module: torch.nn.Embedding
    key_to_index: dict[str, int]
    index_to_key: list[str]
    table: str
    version: int
    space_id: str
    entity: str | None  # None: every entity type, rows named entity:key
    padding_idx: int | None = None

    def lookup(
        self, keys: Iterable[object], missing: Literal["raise", "padding"] = "raise"
    ) -> torch.Tensor:
        """Row indices (a LongTensor) of ``keys``, for ``module(...)``.

        Integer keys are looked up as their decimal text. Raises :class:`NotFoundError`
        naming the keys that are not rows, unless ``missing="padding"`` maps them to the
        padding row (which needs ``padding=True``).
        """
        import torch

        if missing not in ("raise", "padding"):
            raise UsageError(f"missing={missing!r}: use 'raise' or 'padding'")
        if missing == "padding" and self.padding_idx is None:
            raise UsageError(
                "missing='padding' needs a padding row: to_torch_embedding(padding=True)"
            )
        names = [key_text(k) for k in keys]
        fallback = -1 if self.padding_idx is None else self.padding_idx
        index = self.key_to_index
        rows = np.fromiter((index.get(n, -1) for n in names), dtype=np.int64, count=len(names))
        absent = rows < 0
        if absent.any():
            if missing == "raise":
                unknown = [n for n, a in zip(names, absent, strict=True) if a]
                raise NotFoundError(
                    f"{len(unknown)} key(s) not in {self.table}@{self.version}"
                    f"{'' if self.entity is None else f' ({self.entity})'}: "
                    f"{unknown[:10]}{' ...' if len(unknown) > 10 else ''}"
                )
            rows[absent] = fallback
        return torch.from_numpy(rows)


def to_torch_embedding(
    embedding: Embedding,
    freeze: bool = True,
    entity: str | None = None,
    padding: bool = False,
) -> TorchEmbedding:
    """An ``nn.Embedding`` initialised from the version's float32 vectors (a copy).

    ``freeze=True`` makes the weights a fixed lookup (``requires_grad=False``); pass
    ``freeze=False`` to fine-tune them. ``entity`` keeps one entity type's rows.
    ``padding=True`` appends one all-zero row, the module's ``padding_idx``, that gets no
    gradient. Raises :class:`MissingExtraError` without torch.
    """
    try:
        import torch
    except ImportError:
        raise MissingExtraError(
            'to_torch_embedding needs PyTorch: pip install "embank[torch]"'
        ) from None
    names, vectors, selected = _rows(embedding, entity)
    padding_idx = None
    if padding:
        padding_idx = len(names)
        vectors = np.vstack([vectors, np.zeros((1, vectors.shape[1]), dtype=np.float32)])
    module = torch.nn.Embedding.from_pretrained(
        torch.from_numpy(vectors), freeze=freeze, padding_idx=padding_idx
    )
    return TorchEmbedding(
        module=module,
        key_to_index={name: i for i, name in enumerate(names)},
        index_to_key=names,
        table=embedding.name,
        version=embedding.version,
        space_id=embedding.space_id,
        entity=selected,
        padding_idx=padding_idx,
    )


def to_keyedvectors(embedding: Embedding, entity: str | None = None) -> KeyedVectors:
    """A gensim ``KeyedVectors`` of the version's rows (float32, a copy).

    Keys are plain when one entity type is selected, else ``entity:key`` as in the word2vec
    export. Raises :class:`MissingExtraError` without gensim.
    """
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise MissingExtraError(
            'to_keyedvectors needs gensim: pip install "embank[walks]"'
        ) from None
    names, vectors, _ = _rows(embedding, entity)
    kv = KeyedVectors(vector_size=embedding.dim, count=0, dtype=np.float32)
    kv.add_vectors(names, vectors)
    return kv


def _rows(embedding: Embedding, entity: str | None) -> tuple[list[str], np.ndarray, str | None]:
    """(row names, writable float32 vectors, the selected entity or None for all)."""
    matrix: Any = embedding.to_numpy()
    if entity is None and len(embedding.table_info.entities) > 1:
        names = [f"{e}:{k}" for e, k in zip(embedding.entities, embedding.keys, strict=True)]
        return names, np.array(matrix, dtype=np.float32), None
    selected = embedding._entity_of(entity)
    lo, hi = embedding._entity_ranges.get(selected, (0, 0))
    if hi <= lo:
        raise NotFoundError(
            f"{embedding.name}@{embedding.version} has no rows of entity type {selected!r}"
        )
    names = [str(k) for k in embedding.keys[lo:hi]]
    return names, np.array(matrix[lo:hi], dtype=np.float32), selected
