"""Relation operators of a multi-relation table under an alignment rotation.

A multi-relation version scores an edge ``(s, r, d)`` as ``compare(e_s, op_r(e_d))``,
and stores each ``op_r`` with the version as the fit's ``relation_operators_`` does:
``{"operator": kind, "src_entity": …, "dst_entity": …, "params": […]}``. When the
version's vectors are rotated, ``e -> e R`` (row vectors, ``R`` orthogonal), the
operators must turn with them, so that every score stays what it was:

    wanted: op'(e R) = op(e) R   (then (e_s R) . op'(e_d R) = e_s R R^T op(e_d)^T = e_s . op(e_d))

- ``identity`` stays the identity;
- ``translation`` ``op(e) = e + t``: ``op(e) R = e R + t R``, so ``t' = t R`` (as a row
  vector; written for column vectors, ``t' = R^T t``);
- ``diagonal`` ``op(e) = e D`` with ``D = diag(w)``: ``op(e) R = (e R) R^T D R``, so the
  operator becomes the full symmetric matrix ``M' = R^T D R``, stored as kind ``linear``;
- ``linear`` ``op(e) = e M``: likewise ``M' = R^T M R``.

DESIGN.md writes the same rules for column vectors, ``x -> Q x`` with ``Q = R^T``:
``t -> Q t`` and ``D -> Q D Q^T``. Norms are unchanged too, so cosine comparators keep
their scores as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from embank.errors import ValidationError

__all__ = ["apply_operator", "rotate_operators"]


def rotate_operators(
    operators: Mapping[str, Mapping[str, Any]], rotation: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Each relation's operator turned with the rotation ``x -> x @ rotation``.

    Returns new dicts (the input is left alone); ``diagonal`` becomes ``linear`` (a
    dim x dim matrix, nested lists). Raises :class:`ValidationError` on an unknown kind
    or params whose size does not fit the rotation.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    dim = rotation.shape[0]
    rotated: dict[str, dict[str, Any]] = {}
    for relation, operator in operators.items():
        kind = operator.get("operator", "identity")
        params = np.asarray(operator.get("params", []), dtype=np.float64)
        out = dict(operator)
        if kind == "identity":
            pass
        elif kind == "translation":
            _check_size(relation, kind, params, (dim,))
            out["params"] = (params @ rotation).tolist()
        elif kind == "diagonal":
            _check_size(relation, kind, params, (dim,))
            out["operator"] = "linear"
            out["params"] = (rotation.T @ (params[:, None] * rotation)).tolist()
        elif kind == "linear":
            _check_size(relation, kind, params, (dim, dim))
            out["params"] = (rotation.T @ params @ rotation).tolist()
        else:
            raise ValidationError(
                f"relation {relation!r}: unknown operator {kind!r}; known: identity, "
                "translation, diagonal, linear"
            )
        rotated[relation] = out
    return rotated


def apply_operator(operator: Mapping[str, Any], vectors: np.ndarray) -> np.ndarray:
    """``op(e)`` for each row ``e`` of ``vectors`` (float64), as the score uses it."""
    kind = operator.get("operator", "identity")
    vectors = np.asarray(vectors, dtype=np.float64)
    params = np.asarray(operator.get("params", []), dtype=np.float64)
    if kind == "identity":
        return vectors
    if kind == "translation":
        return vectors + params
    if kind == "diagonal":
        return vectors * params
    if kind == "linear":
        return vectors @ params
    raise ValidationError(
        f"unknown operator {kind!r}; known: identity, translation, diagonal, linear"
    )


def _check_size(relation: str, kind: str, params: np.ndarray, shape: tuple[int, ...]) -> None:
    if params.shape != shape:
        raise ValidationError(
            f"relation {relation!r}: {kind} params of shape {params.shape} do not fit a "
            f"rotation of dim {shape[0]}"
        )
