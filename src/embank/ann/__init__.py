"""The index stage: nearest-neighbour search over a version's vectors."""

from embank.ann.exact import ExactIndex

__all__ = ["ExactIndex"]
