"""The one interface every embedding algorithm implements, built-in or plugin.

The estimator contract: the constructor validates and stores params only; ``fit`` does
the work and leaves its result in ``embeddings_``; reading an unfitted result raises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from embank.data.graph import Dataset
from embank.errors import EmbankError
from embank.plugins import PluginRegistry
from embank.progress import NullProgress, Progress
from embank.vector_table import VectorTable

__all__ = ["Algorithm", "AlgorithmParams", "NotFittedError", "algorithms"]


class AlgorithmParams(BaseModel):
    """Base of every algorithm's typed params; each field needs a description."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(128, ge=1, le=4096, description="Dimension of the vectors.")
    seed: int = Field(0, ge=0, description="Random seed; a fixed seed gives the same vectors.")


class NotFittedError(EmbankError):
    """An algorithm's result was read before ``fit`` ran."""


class Algorithm(ABC):
    """Turns a :class:`Dataset` into a :class:`VectorTable`."""

    name: ClassVar[str]
    Params: ClassVar[type[AlgorithmParams]] = AlgorithmParams
    #: bit-identical output for a fixed seed (with n_threads=1)
    deterministic: ClassVar[bool] = True

    def __init__(self, params: AlgorithmParams | Mapping[str, Any] | None = None) -> None:
        if isinstance(params, AlgorithmParams):
            params = params.model_dump()
        self.params = self.Params.model_validate(dict(params or {}))

    @abstractmethod
    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Fit on ``dataset``; the result is then in ``self.embeddings_``."""

    @property
    def embeddings(self) -> VectorTable:
        """The fitted vectors; raises :class:`NotFittedError` before ``fit``."""
        result = getattr(self, "embeddings_", None)
        if result is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet: call fit(dataset) first"
            )
        return result

    @staticmethod
    def _progress(progress: Progress | None) -> Progress:
        return progress if progress is not None else NullProgress()


algorithms: PluginRegistry[type[Algorithm]] = PluginRegistry("algorithm", "embank.algorithms")
