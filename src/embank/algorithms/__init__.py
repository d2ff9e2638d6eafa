"""The fit stage: algorithms that turn a dataset into vectors, behind one registry."""

from embank.algorithms.base import Algorithm, AlgorithmParams, NotFittedError, algorithms

__all__ = ["Algorithm", "AlgorithmParams", "NotFittedError", "algorithms"]
