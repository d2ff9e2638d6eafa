"""node2vec / DeepWalk: random walks over the graph, then skip-gram on the walks.

``p = q = 1`` is DeepWalk (first-order walks by edge weight); other values bias each
step by where the walk came from (node2vec, Grover & Leskovec, KDD 2016): a small ``q``
pushes walks outward (DFS-like: communities), a large ``q`` or a small ``p`` keeps them
local (BFS-like: structural roles). The walks come from :mod:`embank.algorithms.walks`;
the skip-gram trainer is ours (:mod:`embank.algorithms.skipgram`, the default) or gensim's
``Word2Vec(sg=1, hs=0)`` as the reference.

Deterministic (bit-identical for a fixed seed) with ``n_threads: 1``. The walks are the
same for any thread count; training with more threads is lock-free and so depends on
scheduling, hence ``deterministic = False`` for the class.

Warm start (``init_from``): the skip-gram input vectors of matched keys start from the
previous version's vectors (with ``vectors: sum`` those are input + output, the best
single guess); a new key starts at the weighted mean of its matched neighbours' vectors
(the graph fold-in), or, without any, as in a cold fit; the output vectors start at zero.
Left at the tiny random start, new nodes turn along the direction all vectors share and
crowd other nodes' neighbour lists (BlogCatalog with 2 % new nodes: 6.5 % of the top-10
slots, against 1.9 % from the neighbour mean and 2.4 % in a cold fit).
Training then starts at ``warm_learning_rate``, lower than a cold fit's: at the
cold rate the first updates, against still-empty output vectors, scatter the inputs
about as far as a refit with another seed moves them (measured on BlogCatalog, 1 epoch:
median aligned cosine distance 0.18 warm at 0.025 against 0.22 between two cold seeds;
0.04 at 0.01, with Macro-F1@50 0.244 against 0.223 cold). ``warm_epochs`` may be fewer
than ``epochs``.
"""

from __future__ import annotations

import time
from typing import Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from embank.algorithms.base import Algorithm, AlgorithmParams
from embank.algorithms.skipgram import SkipGram
from embank.algorithms.walks import CSRWalker, set_threads
from embank.algorithms.warm import matched_vectors, neighbour_mean
from embank.data.graph import Dataset, Graph
from embank.errors import DataError, UsageError
from embank.progress import Progress, Task
from embank.vector_table import VectorTable

__all__ = ["Node2Vec"]

_WALKS_PER_BATCH = 1 << 16


class Node2Vec(Algorithm):
    """Random walks plus skip-gram with negative sampling; see the module docstring."""

    name = "node2vec"
    deterministic = False  # with n_threads > 1; bit-identical with n_threads: 1
    supports_warm_start = True

    class Params(AlgorithmParams):
        walks_per_node: int = Field(10, ge=1, description="Walks started from every node.")
        walk_length: int = Field(
            80,
            ge=1,
            description="Nodes per walk, the start included; a walk stops early at a node "
            "without out-edges.",
        )
        window: int = Field(
            10, ge=1, description="Skip-gram context window: nodes on each side of the centre."
        )
        p: float = Field(
            1.0,
            gt=0,
            allow_inf_nan=False,
            description="Return parameter: stepping back to the previous node weighs 1/p. "
            "p = q = 1 is DeepWalk and takes the faster first-order walks.",
        )
        q: float = Field(
            1.0,
            gt=0,
            allow_inf_nan=False,
            description="In-out parameter: stepping to a node not adjacent to the previous one "
            "weighs 1/q; q < 1 explores outward, q > 1 stays local.",
        )
        epochs: int = Field(
            2, ge=1, description="Skip-gram passes over the walks (1 is faster, ~0.03 lower F1)."
        )
        negative: int = Field(5, ge=1, description="Negative samples per positive pair.")
        learning_rate: float = Field(
            0.025,
            gt=0,
            description="Skip-gram learning rate at the start; decays linearly to 1e-4 of it.",
        )
        sample: float = Field(
            0.0,
            ge=0,
            description="Subsampling of frequent nodes (word2vec's 'sample', e.g. 1e-3); "
            "0 keeps every occurrence.",
        )
        trainer: Literal["numba", "gensim"] = Field(
            "numba",
            description="Skip-gram trainer: ours ('numba', fast) or gensim's Word2Vec "
            "('gensim', the reference).",
        )
        vectors: Literal["input", "sum"] = Field(
            "input",
            description="Which vectors to publish: the skip-gram input vectors ('input', as "
            "word2vec does), or input plus output (context) vectors ('sum'), which scored "
            "about 0.005-0.01 higher Macro-F1 on BlogCatalog.",
        )
        n_threads: int = Field(
            2,
            ge=1,
            description="Threads for walks and training; with 1 the vectors are bit-identical "
            "for a fixed seed.",
        )
        warm_epochs: int | None = Field(
            None, ge=1, description="Skip-gram passes of a warm-started fit; None: epochs."
        )
        warm_learning_rate: float = Field(
            0.01,
            gt=0,
            description="Start learning rate of a warm-started fit; below learning_rate it "
            "keeps the new version near the previous one.",
        )

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Embed ``dataset.graph``; raises :class:`DataError` for negative or NaN weights."""
        graph: Graph = dataset.require("graph", self.name, "data.edges")
        prm = self.params
        if graph.n_nodes == 0:
            raise DataError("node2vec needs a graph with at least one node; selection left none")
        adjacency = _checked_adjacency(graph)
        progress = self._progress(progress)
        self.warm_start_: dict[str, object] | None = None
        start_vectors = None
        epochs = prm.epochs
        if self.warm_start is not None:
            start_vectors = self._warm_vectors(graph, adjacency)
            epochs = prm.warm_epochs or prm.epochs
        old_threads = set_threads(prm.n_threads)
        try:
            start, start_cpu = time.perf_counter(), time.process_time()
            with progress.task("node2vec: walks", total=prm.walks_per_node) as task:
                walks = self.walks(adjacency, task)
            timings = {"walks": time.perf_counter() - start}
            timings["walks_cpu"] = time.process_time() - start_cpu
            start, start_cpu = time.perf_counter(), time.process_time()
            with progress.task(f"node2vec: training ({prm.trainer})", total=epochs) as task:
                if prm.trainer == "numba":
                    vectors = self._train_numba(walks, graph.n_nodes, task, epochs, start_vectors)
                else:
                    vectors = self._train_gensim(walks, graph.n_nodes, task, epochs, start_vectors)
            timings["training"] = time.perf_counter() - start
            timings["training_cpu"] = time.process_time() - start_cpu
        finally:
            set_threads(old_threads)
        # Wall and process CPU seconds of each stage.
        self.timings_s_ = timings
        self.embeddings_ = VectorTable.single_entity(graph.entity, graph.index_to_key, vectors)
        return self

    def _warm_vectors(
        self, graph: Graph, adjacency: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        """Start input vectors by key, new keys folded in from their neighbours, and a
        mask of the rows set (the others start as in a cold fit)."""
        assert self.warm_start is not None
        previous, found = matched_vectors(
            self.warm_start, graph.entity, graph.index_to_key, self.params.dim, self.name
        )
        new = np.flatnonzero(~found)
        means, has = neighbour_mean(adjacency[new], previous, found)
        self.warm_start_ = {
            "used": True,
            "matched": int(found.sum()),
            "new": len(new),
            "folded_in": int(has.sum()),
        }
        previous[new[has]] = means[has]
        found[new[has]] = True
        return previous, found

    def walks(self, adjacency: sp.csr_matrix, task: Task | None = None) -> np.ndarray:
        """All walks as an int32 array (n_nodes * walks_per_node, walk_length), -1 padded.

        Round ``r`` starts one walk from every node, in a seeded random order; walk ``i``
        draws from its own random stream, so the result does not depend on ``n_threads``.
        """
        prm = self.params
        walker = CSRWalker(adjacency, prm.p, prm.q)
        n_nodes = walker.n_nodes
        rng = np.random.default_rng(prm.seed)
        starts = np.tile(np.arange(n_nodes, dtype=np.int32), (prm.walks_per_node, 1))
        starts = rng.permuted(starts, axis=1).ravel()
        walks = np.empty((starts.size, prm.walk_length), dtype=np.int32)
        # Batches of whole rounds, large enough that a kernel call outweighs its overhead.
        batch = max(1, _WALKS_PER_BATCH // max(n_nodes, 1)) * n_nodes
        for lo in range(0, starts.size, batch):
            hi = min(lo + batch, starts.size)
            walks[lo:hi] = walker.walk(starts[lo:hi], prm.walk_length, prm.seed, first_walk=lo)
            if task is not None:
                task.advance((hi - lo) / n_nodes)
        return walks

    def _train_numba(
        self,
        walks: np.ndarray,
        n_nodes: int,
        task: Task,
        epochs: int,
        start: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        prm = self.params
        rate = prm.learning_rate if start is None else prm.warm_learning_rate
        model = SkipGram(n_nodes, prm.dim, prm.window, prm.negative, rate, prm.sample, prm.seed)
        if start is not None:
            previous, found = start
            model.vectors[found] = previous[found]
        model.train(walks, epochs, prm.n_threads, task)
        if prm.vectors == "sum":
            return model.vectors + model.syn1
        return model.vectors

    def _train_gensim(
        self,
        walks: np.ndarray,
        n_nodes: int,
        task: Task,
        epochs: int,
        start: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        try:
            from gensim.models import Word2Vec
        except ImportError:  # pragma: no cover - depends on the install
            raise UsageError(
                "trainer 'gensim' needs the gensim package: pip install 'embank[walks]'"
            ) from None
        prm = self.params
        rate = prm.learning_rate if start is None else prm.warm_learning_rate
        sentences = [[str(node) for node in walk[walk >= 0]] for walk in walks]
        model = Word2Vec(
            vector_size=prm.dim,
            window=prm.window,
            min_count=0,
            sg=1,
            hs=0,
            negative=prm.negative,
            alpha=rate,
            min_alpha=rate * 1e-4,
            sample=prm.sample,
            workers=prm.n_threads,
            seed=prm.seed,
        )
        model.build_vocab(sentences)
        if start is not None:
            previous, found = start
            for node in np.flatnonzero(found):
                model.wv.vectors[model.wv.key_to_index[str(node)]] = previous[node]
        model.train(sentences, total_examples=len(sentences), epochs=epochs)
        task.advance(epochs)
        # Every node starts walks, so every node is in the vocabulary.
        rows = [model.wv.key_to_index[str(node)] for node in range(n_nodes)]
        vectors = model.wv.vectors[rows]
        if prm.vectors == "sum":
            vectors = vectors + model.syn1neg[rows]
        return np.asarray(vectors, dtype=np.float32)


def _checked_adjacency(graph: Graph) -> sp.csr_matrix:
    adjacency = sp.csr_matrix(graph.adjacency, dtype=np.float64)
    if adjacency.nnz and not np.isfinite(adjacency.data).all():
        raise DataError("node2vec needs finite edge weights; the graph has NaN or inf")
    if adjacency.nnz and (adjacency.data < 0).any():
        raise DataError(
            "node2vec needs non-negative edge weights (a walk follows an edge with probability "
            "proportional to its weight); drop or rescale the negative ones"
        )
    return adjacency
