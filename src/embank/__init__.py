"""embank: learn, check, share and serve embeddings.

>>> import embank
>>> bank = embank.open("./bank")
>>> emb = bank.get("demo/blogcatalog")          # or "@3", "@production"
>>> emb.neighbors("42", k=10)
"""

from embank._version import __version__
from embank.algorithms import Algorithm, AlgorithmParams
from embank.benchmarks import Benchmark, BenchmarkParams
from embank.errors import (
    ConflictError,
    DataError,
    EmbankError,
    GateFailedError,
    NotFoundError,
    SpecError,
    StorageError,
    ValidationError,
)
from embank.store import Bank, Embedding, Neighbor
from embank.store import open_bank as open
from embank.vector_table import VectorTable

__all__ = [
    "Algorithm",
    "AlgorithmParams",
    "Bank",
    "Benchmark",
    "BenchmarkParams",
    "ConflictError",
    "DataError",
    "EmbankError",
    "Embedding",
    "GateFailedError",
    "Neighbor",
    "NotFoundError",
    "SpecError",
    "StorageError",
    "ValidationError",
    "VectorTable",
    "__version__",
    "open",
]
