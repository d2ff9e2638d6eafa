"""The benchmark stage: standard tasks that judge a version, behind one registry."""

from embank.benchmarks.base import (
    Benchmark,
    BenchmarkInputs,
    BenchmarkParams,
    Figure,
    TaskResult,
    benchmarks,
)

__all__ = ["Benchmark", "BenchmarkInputs", "BenchmarkParams", "Figure", "TaskResult", "benchmarks"]
