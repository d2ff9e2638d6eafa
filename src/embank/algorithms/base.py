"""The one interface every embedding algorithm implements, built-in or plugin.

The estimator contract: the constructor validates and stores params only; ``fit`` does
the work and leaves its result in ``embeddings_``; reading an unfitted result raises.

Warm start (a refresh): ``algorithm.init_from(previous).fit(dataset)`` starts the fit
from a previous version's vectors instead of from random ones, matched by (entity, key),
never by row position; keys the previous version lacks start as the algorithm's cold fit
would start them (or better: ALS folds them in). ``init_from`` only records the previous
table; every later ``fit`` of the object uses it, until ``init_from(None)``. An algorithm
that can do this sets ``supports_warm_start = True`` and reads ``self.warm_start`` in its
``fit``; for the others ``init_from`` raises :class:`UsageError`, so a refresh knows to
fit cold. After a warm fit, ``warm_start_`` says what was reused (rows matched, new
rows, solver details), for the version's lineage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from embank.data.graph import Dataset
from embank.errors import EmbankError, UsageError
from embank.plugins import PluginRegistry
from embank.progress import NullProgress, Progress
from embank.vector_table import VectorTable

__all__ = ["Algorithm", "AlgorithmParams", "NotFittedError", "WarmStart", "algorithms"]


class AlgorithmParams(BaseModel):
    """Base of every algorithm's typed params; each field needs a description."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(128, ge=1, le=4096, description="Dimension of the vectors.")
    seed: int = Field(0, ge=0, description="Random seed; a fixed seed gives the same vectors.")


class NotFittedError(EmbankError):
    """An algorithm's result was read before ``fit`` ran."""


@dataclass(frozen=True, eq=False)
class WarmStart:
    """What a warm fit starts from: the previous version's vectors (and operators).

    ``relation_operators`` are the previous version's relation operators as
    ``relation_operators_`` of a multi-relation fit holds them (after any alignment
    rotation); algorithms without operators ignore them.
    """

    previous: VectorTable
    relation_operators: Mapping[str, Mapping[str, Any]] | None = None


class Algorithm(ABC):
    """Turns a :class:`Dataset` into a :class:`VectorTable`."""

    name: ClassVar[str]
    Params: ClassVar[type[AlgorithmParams]] = AlgorithmParams
    #: bit-identical output for a fixed seed (with n_threads=1)
    deterministic: ClassVar[bool] = True
    #: ``init_from`` works: ``fit`` can start from a previous version's vectors
    supports_warm_start: ClassVar[bool] = False

    def __init__(self, params: AlgorithmParams | Mapping[str, Any] | None = None) -> None:
        if isinstance(params, AlgorithmParams):
            params = params.model_dump()
        self.params = self.Params.model_validate(dict(params or {}))

    def init_from(
        self,
        previous: VectorTable | None,
        relation_operators: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Self:
        """Start later fits from ``previous`` (None: cold again); returns self.

        Raises :class:`UsageError` when the algorithm cannot warm start
        (``supports_warm_start`` is False).
        """
        if previous is None:
            self._warm_start = None
            return self
        if not self.supports_warm_start:
            raise UsageError(
                f"algorithm {self.name!r} cannot warm start from a previous version; "
                "refit it cold (drop warm_start from the spec)"
            )
        self._warm_start = WarmStart(previous, relation_operators)
        return self

    @property
    def warm_start(self) -> WarmStart | None:
        """What the next fit starts from, set by :meth:`init_from`; None for a cold fit."""
        return getattr(self, "_warm_start", None)

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
