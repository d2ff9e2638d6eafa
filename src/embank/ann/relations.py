"""Neighbours through a relation of a multi-relation (TwHIN-style) table.

Such a version scores an edge ``(s, r, d)`` as ``compare(e_s, op_r(e_d))`` and stores each
``op_r`` in its lineage (``algorithm.relation_operators``; see
:mod:`embank.refresh.operators`). A nearest-neighbour search compares the query with
plain rows, so the operator moves to the query side:

- the query is a source (``s``, looking for destinations): under ``dot``,
  ``e_s . op(e_d)`` is ``e_s . (e_d * w)`` = ``(e_s * w) . e_d`` for a diagonal, and
  ``e_s . (e_d M)`` = ``(e_s M^T) . e_d`` for a linear operator; a translation adds
  ``e_s . t``, the same for every ``d``, so the ranking is that of ``e_s`` and the score
  gains that constant;
- the query is a destination (``d``, looking for sources): the query is ``op(e_d)``.

Under ``dot`` these searches rank exactly as the model scores. Under ``cosine`` the
operator is applied the same way and rows are ranked by cosine to the moved query, which
is the model's ranking for identity and orthogonal operators and close to it otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from embank.errors import NotFoundError, ValidationError

__all__ = ["RelationQuery", "relation_operators", "relation_query"]


@dataclass(frozen=True)
class RelationQuery:
    """A query moved through a relation: search with ``vector`` among ``target`` rows and
    add ``score_shift`` to every score."""

    vector: np.ndarray
    target: str | None
    score_shift: float = 0.0


def relation_operators(lineage: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The relation operators a version's lineage stores (empty for other tables)."""
    return dict((lineage.get("algorithm") or {}).get("relation_operators") or {})


def relation_query(
    operators: Mapping[str, Mapping[str, Any]],
    relation: str,
    vector: np.ndarray,
    metric: str,
    entity: str | None = None,
) -> RelationQuery:
    """``vector`` (of entity type ``entity``; None: a source) moved through ``relation``.

    The query is a source when ``entity`` is the relation's source type (or None), else a
    destination; ``target`` is the other end's type. Raises :class:`NotFoundError` for a
    relation the version does not have, :class:`ValidationError` for an entity type the
    relation does not join.
    """
    if relation not in operators:
        known = ", ".join(sorted(operators)) or "none: the version stores no relation operators"
        raise NotFoundError(f"no relation {relation!r} in this version; its relations: {known}")
    # imported here: the refresh package is large, and only relation queries need it
    from embank.refresh.operators import apply_operator

    operator = operators[relation]
    src, dst = operator.get("src_entity"), operator.get("dst_entity")
    kind = operator.get("operator", "identity")
    params = np.asarray(operator.get("params", []), dtype=np.float64)
    query = np.asarray(vector, dtype=np.float64)
    if entity is None or entity == src:
        if kind == "linear":
            moved = query @ params.T
        elif kind == "translation" and metric == "dot":
            return RelationQuery(query.astype(np.float32), dst, float(query @ params))
        elif kind == "translation":
            moved = query - params  # cos(e_s, e_d + t) is largest near e_d = e_s - t
        else:
            moved = apply_operator(operator, query[None, :])[0]
        return RelationQuery(moved.astype(np.float32), dst)
    if entity == dst:
        moved = apply_operator(operator, query[None, :])[0]
        return RelationQuery(moved.astype(np.float32), src)
    raise ValidationError(
        f"relation {relation!r} joins {src} to {dst}; a {entity} key is neither end"
    )
