"""A multi-relation graph model in the TwHIN / PyTorch-BigGraph family (PyTorch).

Every entity type (``user``, ``item``, ...) gets one embedding table; every relation type
(``follows``, ``likes``, ...) gets an operator applied to the destination side, so an
edge ``(s, r, d)`` scores ``compare(e_s, op_r(e_d))``:

- operators: ``identity`` (no parameters), ``diagonal`` (``e * w_r``, starts at ones),
  ``translation`` (``e + t_r``, starts at zeros);
- comparators: ``dot``, or ``cosine`` (times ``cosine_scale``, so softmax can separate);
- negatives: both ends of each edge are corrupted, against the other edges' ends in its
  group of ``batch_negatives`` edges (in-batch: sampled by degree, for free) and against
  ``uniform_negatives`` entities drawn uniformly per batch;
- losses: ``softmax`` (cross-entropy of the positive among its negatives) or ``ranking``
  (sum of ``max(0, margin - positive + negative)``);
- optimiser: row-wise Adagrad on the entity tables (one accumulator per row, as in PBG,
  touching only the rows a batch uses), element-wise Adagrad on the operators.

An epoch walks the edge list in ``chunk_edges``-sized strided chunks in shuffled order,
each shuffled, so per-chunk memory stays bounded however many edges there are. On the
CPU, ``n_threads`` workers train the batches of a chunk side by side on the shared tables
without locks (HOGWILD, as PBG's workers do); torch runs each op on one thread. Sampling
uses seeded numpy generators, so a seed gives the same batches on any device; on the CPU
with ``n_threads=1`` the vectors are bit-identical. On a GPU one worker drives it.

Warm start (``init_from``): entity rows start from the previous version's vectors,
matched by (entity, key) (new keys start random as usual), operators from the previous
version's operators where the kind and size match (a diagonal rotated by an alignment
is a full matrix and starts fresh); ``warm_pull`` adds TwHIN's L2 pull
``warm_pull * ||e - e_previous||^2`` on every matched row a batch touches, so the new
version stays near the old space; ``warm_epochs`` may be fewer than ``epochs``.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch
from pydantic import Field, model_validator

from embank.algorithms.base import Algorithm, AlgorithmParams, WarmStart
from embank.algorithms.warm import matched_vectors
from embank.data.graph import Dataset
from embank.data.relations import MultiGraph, Relation
from embank.errors import DataError, ValidationError
from embank.progress import Progress
from embank.vector_table import VectorTable

__all__ = ["TwHIN"]

log = logging.getLogger(__name__)

Operator = Literal["identity", "diagonal", "translation"]
# PBG's values: the epsilon of its row-wise Adagrad.
_ADAGRAD_EPS = 1e-10
# Workers share the GIL between ops; past a few of them it, not the cores, limits.
_MAX_DEFAULT_WORKERS = 8


class TwHIN(Algorithm):
    """Multi-relation embeddings (TwHIN / PyTorch-BigGraph); see the module docstring."""

    name = "twhin"
    supports_warm_start = True

    class Params(AlgorithmParams):
        epochs: int = Field(5, ge=1, le=10_000, description="Passes over every edge.")
        batch_size: int = Field(1000, ge=1, description="Edges of one relation per optimiser step.")
        learning_rate: float = Field(
            0.1, gt=0, description="Adagrad learning rate (entity tables and operators)."
        )
        operator: Operator = Field(
            "identity",
            description="Relation operator on the destination side: identity, diagonal "
            "(learned per-dimension scale) or translation (learned offset).",
        )
        relation_operators: dict[str, Operator] = Field(
            default_factory=dict,
            description="Per-relation operator overrides, relation name -> operator.",
        )
        comparator: Literal["dot", "cosine"] = Field(
            "dot", description="How a source vector is compared to a transformed destination."
        )
        cosine_scale: float = Field(
            5.0, gt=0, description="cosine: scores are cosines times this factor."
        )
        batch_negatives: int = Field(
            0,
            ge=0,
            description="In-batch negatives: each edge is also scored against the other "
            "edges' ends within its group of this many edges (sampled by degree, so they "
            "penalise popular entities); 0 turns them off.",
        )
        uniform_negatives: int = Field(
            200, ge=0, description="Negatives drawn uniformly from each entity type per batch."
        )
        loss: Literal["softmax", "ranking"] = Field(
            "softmax",
            description="softmax: cross-entropy of each positive among its negatives; "
            "ranking: margin loss summed over negatives.",
        )
        margin: float = Field(0.1, ge=0, description="ranking: the margin.")
        weighted: bool = Field(
            False, description="Multiply each edge's loss by its weight; else every edge is 1."
        )
        init_scale: float | None = Field(
            None,
            gt=0,
            description="Entity vectors start as N(0, init_scale^2); None: 0.001 for dot "
            "(PBG's), 1/sqrt(dim) for cosine, whose gradients vanish on tiny vectors.",
        )
        chunk_edges: int = Field(
            1_000_000,
            ge=1,
            description="Edges per chunk: an epoch walks strided chunks of this many edges "
            "in shuffled order, which bounds the per-chunk memory.",
        )
        device: Literal["auto", "cpu", "cuda"] = Field(
            "auto", description="auto: cuda when torch sees a GPU, else cpu."
        )
        n_threads: int = Field(
            0,
            ge=0,
            description="CPU workers training batches side by side (HOGWILD, as in PBG); "
            f"0: torch's thread count (cores, unless OMP_NUM_THREADS or threadpoolctl set "
            f"fewer), at most {_MAX_DEFAULT_WORKERS}. Only 1 is bit-reproducible.",
        )

        warm_pull: float = Field(
            0.0,
            ge=0,
            description="Warm start: weight of the L2 pull ||e - e_previous||^2 on each "
            "matched row a batch touches, which keeps a refresh near the previous space; "
            "0 = none.",
        )
        warm_epochs: int | None = Field(
            None, ge=1, le=10_000, description="Epochs of a warm-started fit; None: epochs."
        )

        @model_validator(mode="after")
        def _some_negatives(self) -> Self:
            if self.batch_negatives <= 1 and self.uniform_negatives == 0:
                raise ValueError("no negatives: set batch_negatives >= 2 or uniform_negatives >= 1")
            return self

    params: Params

    def fit(self, dataset: Dataset, progress: Progress | None = None) -> Self:
        """Train on ``dataset.relations`` (else its interactions, else its graph).

        Raises :class:`DataError` when the dataset has none of them or its edges are
        unusable, :class:`ValidationError` for params that do not fit the data.
        """
        p = self.params
        graph = _multigraph(dataset, self.name)
        relations = _usable_relations(graph)
        operators = _operators(p, graph)
        device = _device(p.device)
        previous_threads = torch.get_num_threads()
        n_workers = p.n_threads or min(previous_threads, _MAX_DEFAULT_WORKERS)
        if device.type == "cuda":
            n_workers = 1
        # Workers run whole batches side by side, each op on one thread: these ops are
        # small, and splitting each over threads stalls badly when the cores are shared
        # (BlogCatalog, 2 cores: 36 s of CPU per epoch on 2 op threads against 6 s on 1).
        torch.set_num_threads(1)
        warm = self.warm_start
        epochs = p.epochs
        if warm is not None and p.warm_epochs is not None:
            epochs = p.warm_epochs
        try:
            trainer = _Trainer(p, graph, relations, operators, device, n_workers)
            self.warm_start_ = None if warm is None else trainer.start_from(warm)
            with self._progress(progress).task(f"{self.name} ({device})", total=epochs) as task:
                for epoch in range(epochs):
                    loss = trainer.epoch()
                    log.info(
                        "%s epoch %d/%d: loss %.4f per edge", self.name, epoch + 1, epochs, loss
                    )
                    task.advance()
        finally:
            torch.set_num_threads(previous_threads)
        self.embeddings_ = trainer.table()
        self.relation_operators_ = trainer.operators()
        self.loss_ = loss
        return self


def _multigraph(dataset: Dataset, algorithm: str) -> MultiGraph:
    """The dataset's relations, or its interactions / graph as one relation."""
    if dataset.relations is not None:
        return dataset.relations
    inter = dataset.interactions
    if inter is not None:
        if inter.src_entity == inter.dst_entity and not np.array_equal(
            inter.src_keys, inter.dst_keys
        ):
            raise DataError(
                f"interactions go from {inter.src_entity!r} to {inter.dst_entity!r} with "
                "different key lists; name the two sides as different entities"
            )
        coo = inter.matrix.tocoo()
        keys = {inter.src_entity: inter.src_keys, inter.dst_entity: inter.dst_keys}
        relation = Relation(
            "interacts", inter.src_entity, inter.dst_entity, coo.row, coo.col, coo.data
        )
        return MultiGraph(keys=keys, relations={"interacts": relation})
    graph = dataset.graph
    if graph is not None:
        # An undirected graph's CSR already holds each edge both ways.
        coo = graph.adjacency.tocoo()
        relation = Relation("edge", graph.entity, graph.entity, coo.row, coo.col, coo.data)
        return MultiGraph(keys={graph.entity: graph.index_to_key}, relations={"edge": relation})
    raise DataError(
        f"algorithm {algorithm!r} needs data.relations (or data.interactions or data.edges) "
        "in the spec's data"
    )


def _usable_relations(graph: MultiGraph) -> list[Relation]:
    """The relations with edges, checked; a relation without edges is skipped with a warning."""
    usable = []
    for name, relation in sorted(graph.relations.items()):
        for side, entity in (("src", relation.src_entity), ("dst", relation.dst_entity)):
            if entity not in graph.keys:
                known = ", ".join(sorted(graph.keys)) or "none"
                raise DataError(
                    f"relation {name!r}: {side} entity {entity!r} has no keys; known: {known}"
                )
        n_edges = relation.n_edges
        if not len(relation.dst) == len(relation.weight) == n_edges:
            raise DataError(f"relation {name!r}: src, dst and weight differ in length")
        if n_edges == 0:
            log.warning("relation %r has no edges; it is skipped", name)
            continue
        for side, ids, entity in (
            ("src", relation.src, relation.src_entity),
            ("dst", relation.dst, relation.dst_entity),
        ):
            n_keys = len(graph.keys[entity])
            if ids.min() < 0 or ids.max() >= n_keys:
                raise DataError(
                    f"relation {name!r}: {side} ids must lie in [0, {n_keys}) for the "
                    f"{n_keys} keys of {entity!r}"
                )
        weight = np.asarray(relation.weight, dtype=np.float64)
        n_bad = int(np.count_nonzero(~np.isfinite(weight) | (weight < 0)))
        if n_bad:
            raise DataError(
                f"relation {name!r} has {n_bad} edge weights that are negative or not "
                "finite; drop or rescale them in the selection"
            )
        usable.append(relation)
    if not usable:
        raise DataError("no relation has any edge: nothing to train on")
    return usable


def _operators(p: TwHIN.Params, graph: MultiGraph) -> dict[str, Operator]:
    unknown = sorted(set(p.relation_operators) - set(graph.relations))
    if unknown:
        known = ", ".join(sorted(graph.relations))
        raise ValidationError(
            f"relation_operators names relations the data does not have: "
            f"{', '.join(unknown)}; known relations: {known}"
        )
    return {name: p.relation_operators.get(name, p.operator) for name in graph.relations}


def _device(choice: str) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    elif choice == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device cuda: torch sees no GPU here; use device auto or cpu")
    return torch.device(choice)


@dataclass
class _Batch:
    relation: int
    edges: np.ndarray  # edge ids within the relation


class _Trainer:
    """The tables, the operators, their Adagrad state, and one epoch of training."""

    def __init__(
        self,
        p: TwHIN.Params,
        graph: MultiGraph,
        relations: list[Relation],
        operators: dict[str, Operator],
        device: torch.device,
        n_workers: int,
    ) -> None:
        self.p = p
        self.graph = graph
        self.relations = relations
        self.device = device
        self.rng = np.random.default_rng(p.seed)
        # Each worker draws its own negatives; with one worker the run is reproducible.
        self.worker_rngs = [np.random.default_rng(s) for s in self.rng.spawn(n_workers)]
        generator = torch.Generator().manual_seed(p.seed)
        init_scale = p.init_scale
        if init_scale is None:
            init_scale = 0.001 if p.comparator == "dot" else 1.0 / math.sqrt(p.dim)
        self.entities = sorted(graph.keys)
        self.tables: dict[str, torch.Tensor] = {}
        self.row_state: dict[str, torch.Tensor] = {}
        for entity in self.entities:
            n_rows = len(graph.keys[entity])
            init = torch.randn(n_rows, p.dim, generator=generator) * init_scale
            self.tables[entity] = init.to(device)
            self.row_state[entity] = torch.zeros(n_rows, device=device)
        self.kinds = [operators[r.name] for r in relations]
        self.op_params: list[torch.Tensor | None] = []
        self.op_state: list[torch.Tensor | None] = []
        for kind in self.kinds:
            if kind == "identity":
                self.op_params.append(None)
                self.op_state.append(None)
            else:
                fill = torch.ones if kind == "diagonal" else torch.zeros
                self.op_params.append(fill(p.dim, device=device))
                self.op_state.append(torch.zeros(p.dim, device=device))
        # Warm start: each entity's previous rows and which rows have one (start_from).
        self.anchors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # Edge arrays on the CPU as int64 / float32; batches move to the device.
        self.src = [np.asarray(r.src, dtype=np.int64) for r in relations]
        self.dst = [np.asarray(r.dst, dtype=np.int64) for r in relations]
        self.weight = [np.asarray(r.weight, dtype=np.float32) for r in relations]
        self.offsets = np.cumsum([0] + [r.n_edges for r in relations])

    def start_from(self, warm: WarmStart) -> dict[str, object]:
        """Set matched rows (and operators) to the previous version's; returns a summary."""
        n_matched = n_new = n_operators = 0
        for entity in self.entities:
            previous, found = matched_vectors(
                warm, entity, self.graph.keys[entity], self.p.dim, TwHIN.name
            )
            mask = torch.from_numpy(found).to(self.device)
            start = torch.from_numpy(previous).to(self.device)
            self.tables[entity][mask] = start[mask]
            if self.p.warm_pull > 0:
                self.anchors[entity] = (start, mask.to(start.dtype))
            n_matched += int(found.sum())
            n_new += int((~found).sum())
        stored = warm.relation_operators or {}
        for r, (relation, kind) in enumerate(zip(self.relations, self.kinds, strict=True)):
            old = stored.get(relation.name)
            if self.op_params[r] is None or old is None or old.get("operator") != kind:
                continue
            values = np.asarray(old.get("params", []), dtype=np.float32)
            if values.shape == (self.p.dim,):
                self.op_params[r] = torch.from_numpy(values).to(self.device)
                n_operators += 1
        return {"used": True, "matched": n_matched, "new": n_new, "operators": n_operators}

    # -- one epoch --------------------------------------------------------------------

    def epoch(self) -> float:
        """Train one pass over every edge; returns the mean loss per edge."""
        n_total = int(self.offsets[-1])
        n_chunks = max(1, math.ceil(n_total / self.p.chunk_edges))
        total = 0.0
        for chunk in self.rng.permutation(n_chunks):
            batches = self._batches(np.arange(chunk, n_total, n_chunks))
            if len(self.worker_rngs) == 1:
                total += self._run(batches, self.worker_rngs[0])
                continue
            with ThreadPoolExecutor(len(self.worker_rngs)) as pool:
                shares = [
                    pool.submit(self._run, batches[i :: len(self.worker_rngs)], rng)
                    for i, rng in enumerate(self.worker_rngs)
                ]
                total += sum(share.result() for share in shares)
        return total / n_total

    def _run(self, batches: list[_Batch], rng: np.random.Generator) -> float:
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for batch in batches:
            total += self._step(batch, rng)
        return float(total.item())

    def _batches(self, edge_ids: np.ndarray) -> list[_Batch]:
        """The chunk's edges shuffled, cut into one-relation batches, in shuffled order."""
        edge_ids = self.rng.permutation(edge_ids)
        owner = np.searchsorted(self.offsets, edge_ids, side="right") - 1
        batches = []
        for r in range(len(self.relations)):
            mine = edge_ids[owner == r] - self.offsets[r]
            for start in range(0, len(mine), self.p.batch_size):
                batches.append(_Batch(r, mine[start : start + self.p.batch_size]))
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def _step(self, batch: _Batch, rng: np.random.Generator) -> torch.Tensor:
        p, r = self.p, batch.relation
        relation = self.relations[r]
        n_edges = len(batch.edges)
        src_ids = self.src[r][batch.edges]
        dst_ids = self.dst[r][batch.edges]
        n_uniform = p.uniform_negatives
        src_neg = rng.integers(0, len(self.graph.keys[relation.src_entity]), n_uniform)
        dst_neg = rng.integers(0, len(self.graph.keys[relation.dst_entity]), n_uniform)

        # Gather each entity's rows once, so a row used twice gets one Adagrad update.
        wanted: dict[str, list[np.ndarray]] = {}
        for entity, ids in (
            (relation.src_entity, src_ids),
            (relation.src_entity, src_neg),
            (relation.dst_entity, dst_ids),
            (relation.dst_entity, dst_neg),
        ):
            wanted.setdefault(entity, []).append(ids)
        rows: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for entity, parts in wanted.items():
            ids = torch.from_numpy(np.concatenate(parts)).to(self.device)
            unique, inverse = torch.unique(ids, return_inverse=True)
            leaf = self.tables[entity][unique].requires_grad_()
            rows[entity] = (unique, inverse, leaf)

        def take(entity: str, start: int, stop: int) -> torch.Tensor:
            _, inverse, leaf = rows[entity]
            return leaf[inverse[start:stop]]

        same = relation.src_entity == relation.dst_entity
        src = take(relation.src_entity, 0, n_edges)
        src_negatives = take(relation.src_entity, n_edges, n_edges + n_uniform)
        base = n_edges + n_uniform if same else 0
        dst = take(relation.dst_entity, base, base + n_edges)
        dst_negatives = take(relation.dst_entity, base + n_edges, base + n_edges + n_uniform)

        # A leaf copy per step keeps the gradient local to this worker.
        shared_op = self.op_params[r]
        op = None if shared_op is None else shared_op.clone().requires_grad_()
        dst = self._apply(self.kinds[r], op, dst)
        dst_negatives = self._apply(self.kinds[r], op, dst_negatives)
        if p.comparator == "cosine":
            src, src_negatives, dst, dst_negatives = (
                torch.nn.functional.normalize(x, dim=1) * math.sqrt(p.cosine_scale)
                for x in (src, src_negatives, dst, dst_negatives)
            )

        positive = (src * dst).sum(dim=1)
        # Corrupting the destination: rows are edges, columns negative destinations.
        dst_scores = [src @ dst_negatives.T] if n_uniform else []
        src_scores = [dst @ src_negatives.T] if n_uniform else []
        if p.batch_negatives > 1:
            dst_in_batch, src_in_batch = _in_batch_scores(src, dst, p.batch_negatives)
            dst_scores.append(dst_in_batch)
            src_scores.append(src_in_batch)
        loss_per_edge = self._loss(positive, torch.cat(dst_scores, dim=1)) + self._loss(
            positive, torch.cat(src_scores, dim=1)
        )
        if p.weighted:
            weight = torch.from_numpy(self.weight[r][batch.edges]).to(self.device)
            loss_per_edge = loss_per_edge * weight
        loss = loss_per_edge.sum()
        # The pull is part of the objective, not of the reported loss per edge.
        (loss + self._pull(rows) if self.anchors else loss).backward()

        with torch.no_grad():
            for entity, (unique, _, leaf) in rows.items():
                grad = leaf.grad
                state = self.row_state[entity]
                state[unique] += grad.pow(2).mean(dim=1)
                step = grad / (state[unique].sqrt() + _ADAGRAD_EPS).unsqueeze(1)
                self.tables[entity][unique] = leaf - p.learning_rate * step
            if op is not None and shared_op is not None:
                grad = op.grad
                op_state = self.op_state[r]
                assert op_state is not None
                op_state += grad.pow(2)
                shared_op -= p.learning_rate * grad / (op_state.sqrt() + _ADAGRAD_EPS)
        return loss.detach()

    def _pull(
        self, rows: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """``warm_pull * ||e - e_previous||^2`` summed over the matched rows of a batch."""
        total = torch.zeros((), device=self.device)
        for entity, (unique, _, leaf) in rows.items():
            if entity in self.anchors:
                start, mask = self.anchors[entity]
                gap = (leaf - start[unique]).pow(2).sum(dim=1)
                total = total + (gap * mask[unique]).sum()
        return self.p.warm_pull * total

    @staticmethod
    def _apply(kind: Operator, op: torch.Tensor | None, vectors: torch.Tensor) -> torch.Tensor:
        if kind == "diagonal":
            return vectors * op
        if kind == "translation":
            return vectors + op
        return vectors

    def _loss(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """Per-edge loss of each positive score against its row of negative scores."""
        if self.p.loss == "softmax":
            logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
            return torch.logsumexp(logits, dim=1) - positive
        hinge = torch.relu(self.p.margin - positive.unsqueeze(1) + negative)
        return hinge.sum(dim=1)

    # -- results ----------------------------------------------------------------------

    def table(self) -> VectorTable:
        entities, keys, vectors = [], [], []
        for entity in self.entities:
            entity_keys = np.asarray(self.graph.keys[entity], dtype=object)
            entities.append(np.full(len(entity_keys), entity, dtype=object))
            keys.append(entity_keys)
            vectors.append(self.tables[entity].detach().cpu().numpy())
        return VectorTable(np.concatenate(entities), np.concatenate(keys), np.concatenate(vectors))

    def operators(self) -> dict[str, dict[str, object]]:
        """Each relation's learned operator (applied to the destination vector)."""
        result: dict[str, dict[str, object]] = {}
        for relation, kind, op in zip(self.relations, self.kinds, self.op_params, strict=True):
            result[relation.name] = {
                "operator": kind,
                "src_entity": relation.src_entity,
                "dst_entity": relation.dst_entity,
                "params": [] if op is None else op.detach().cpu().tolist(),
            }
        return result


def _in_batch_scores(
    src: torch.Tensor, dst: torch.Tensor, group: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-batch negative scores within groups of ``group`` edges, both ways.

    Returns two ``n x group`` matrices: ``src[i] . dst[j]`` (edge ``i``'s destination
    corrupted) and ``src[j] . dst[i]`` (its source corrupted), ``j`` over ``i``'s group.
    The positive itself and the padding of a short last group are ``-inf``, which both
    losses ignore.
    """
    n_edges, dim = src.shape
    group = min(group, n_edges)
    n_groups = math.ceil(n_edges / group)
    pad = n_groups * group - n_edges
    if pad:
        src = torch.cat([src, src.new_zeros(pad, dim)])
        dst = torch.cat([dst, dst.new_zeros(pad, dim)])
    scores = torch.bmm(
        src.view(n_groups, group, dim), dst.view(n_groups, group, dim).transpose(1, 2)
    )
    mask = torch.eye(group, dtype=torch.bool, device=src.device).expand(n_groups, -1, -1)
    if pad:
        mask = mask.clone()
        mask[-1, :, group - pad :] = True
        mask[-1, group - pad :, :] = True
    scores = scores.masked_fill(mask, float("-inf"))
    by_dst = scores.reshape(n_groups * group, group)[:n_edges]
    by_src = scores.transpose(1, 2).reshape(n_groups * group, group)[:n_edges]
    return by_dst, by_src
