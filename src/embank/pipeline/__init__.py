"""The pipeline that ties the stages together: select, fit, benchmark, gate, publish."""

from embank.pipeline.benchmark import benchmark_version
from embank.pipeline.run import RunResult, run_spec

__all__ = ["RunResult", "benchmark_version", "run_spec"]
