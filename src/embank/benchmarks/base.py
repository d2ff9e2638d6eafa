"""The one interface every benchmark task implements, built-in or plugin.

A task judges a :class:`VectorTable` against what the version carries beside its vectors
(labels, held-out pairs) and returns figures named ``task.metric[_at_N]``, each with the
trivial baseline's figure, its sample size, seed and run time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from embank.data.attributes import Metadata
from embank.data.graph import Graph, Labels
from embank.data.interactions import Interactions
from embank.plugins import PluginRegistry
from embank.progress import NullProgress, Progress
from embank.vector_table import VectorTable

__all__ = ["Benchmark", "BenchmarkInputs", "BenchmarkParams", "Figure", "TaskResult", "benchmarks"]


class BenchmarkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, description="Seed of every random split and sample.")


@dataclass(frozen=True)
class Figure:
    """One benchmark figure, e.g. ``topic_prediction.macro_f1_at_50``."""

    name: str
    value: float
    baseline: float | None = None
    baseline_name: str | None = None
    sample_size: int | None = None
    seed: int | None = None
    run_time_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskResult:
    task: str
    figures: list[Figure]
    run_time_s: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkInputs:
    """What a version carries beside its vectors for benchmarks to use.

    ``holdout`` holds the pairs selection kept out of the fit (columns ``src_entity``,
    ``src``, ``dst_entity``, ``dst`` as text); ``interactions`` and ``graph`` are what the
    fit saw, so tasks can exclude training items and compute popularity or degree.
    """

    labels: Labels | None = None
    holdout: pd.DataFrame | None = None
    interactions: Interactions | None = None
    graph: Graph | None = None
    metadata: Metadata | None = None


class Benchmark(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[BenchmarkParams]] = BenchmarkParams

    def __init__(self, params: BenchmarkParams | Mapping[str, Any] | None = None) -> None:
        if isinstance(params, BenchmarkParams):
            params = params.model_dump()
        self.params = self.Params.model_validate(dict(params or {}))

    @abstractmethod
    def run(
        self, table: VectorTable, inputs: BenchmarkInputs, progress: Progress | None = None
    ) -> TaskResult:
        """Judge ``table``; raise :class:`embank.errors.DataError` if inputs are missing."""

    @staticmethod
    def _progress(progress: Progress | None) -> Progress:
        return progress if progress is not None else NullProgress()


benchmarks: PluginRegistry[type[Benchmark]] = PluginRegistry("benchmark", "embank.benchmarks")
