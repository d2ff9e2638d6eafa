"""The publish stage and the bank: registry, offline store, online store."""

from embank.store.bank import Bank, open_bank
from embank.store.embedding import Embedding
from embank.store.models import (
    BenchmarkRunResult,
    CompareResult,
    FigureInfo,
    Neighbor,
    ShowResult,
    TableInfo,
    VersionInfo,
)

__all__ = [
    "Bank",
    "BenchmarkRunResult",
    "CompareResult",
    "Embedding",
    "FigureInfo",
    "Neighbor",
    "ShowResult",
    "TableInfo",
    "VersionInfo",
    "open_bank",
]
