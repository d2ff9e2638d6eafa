"""The index stage: nearest-neighbour search over a version's vectors.

Exact search for small tables and as ground truth; approximate indexes (hnswlib by
default, faiss HNSW and IVF-PQ with ``embank[faiss]``) behind one :class:`Index`
protocol and the :data:`index_kinds` registry, built and tuned to a recall target by
:func:`build_index`, one per entity type by :func:`build_entity_indexes`. See docs/ann.md.
"""

from embank.ann.base import Index, IndexBase, IndexParams, Searcher, index_kinds
from embank.ann.build import EXACT_BELOW_ROWS, build_index, choose_kind, load_index
from embank.ann.entities import EntityIndexes, RowMappedIndex, build_entity_indexes
from embank.ann.exact import ExactIndex
from embank.ann.faiss_index import FaissHnswIndex, IvfPqIndex
from embank.ann.hnsw import HnswlibIndex
from embank.ann.tuning import GroundTruth, IndexReport, measure_recall, sample_queries, tune

__all__ = [
    "EXACT_BELOW_ROWS",
    "EntityIndexes",
    "ExactIndex",
    "FaissHnswIndex",
    "GroundTruth",
    "HnswlibIndex",
    "Index",
    "IndexBase",
    "IndexParams",
    "IndexReport",
    "IvfPqIndex",
    "RowMappedIndex",
    "Searcher",
    "build_entity_indexes",
    "build_index",
    "choose_kind",
    "index_kinds",
    "load_index",
    "measure_recall",
    "sample_queries",
    "tune",
]
