"""The fit stage: algorithms that turn a dataset into vectors, behind one registry."""

from embank.algorithms.base import (
    Algorithm,
    AlgorithmParams,
    NotFittedError,
    WarmStart,
    algorithms,
)

__all__ = ["Algorithm", "AlgorithmParams", "NotFittedError", "WarmStart", "algorithms"]
