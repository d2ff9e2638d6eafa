"""Load a spec from YAML: expand ``${VAR}``, apply ``--set`` overrides, validate.

Every error is a :class:`SpecError` that names the file, the field and what is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from embank.algorithms import algorithms
from embank.benchmarks import benchmarks
from embank.errors import SpecError, UnknownPluginError
from embank.spec.models import Spec

__all__ = ["LoadedSpec", "apply_overrides", "expand_env", "load_spec", "validate_spec"]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class LoadedSpec:
    spec: Spec
    path: Path | None  # None for a spec built in memory
    base_dir: Path  # relative data paths resolve against this folder


def expand_env(value: Any, where: str = "spec") -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise SpecError(
                f"{where}: environment variable {name} is not set; set it or "
                f"write ${{{name}:-default}}"
            )

        return _ENV_RE.sub(replace, value)
    if isinstance(value, dict):
        return {k: expand_env(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where) for v in value]
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str], where: str = "--set") -> dict:
    """Apply ``a.b.c=VALUE`` overrides; VALUE is parsed as YAML (``64``, ``true``, ``[1,2]``)."""
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise SpecError(f"{where} {item!r}: write FIELD=VALUE, e.g. algorithm.params.dim=64")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        node = raw
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise SpecError(f"{where} {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def load_spec(path: str | Path, overrides: list[str] | None = None) -> LoadedSpec:
    """Read, expand and validate the spec at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{path}:{at} is not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping with 'table', 'data', 'algorithm', ...")
    raw = apply_overrides(raw, overrides or [])
    raw = expand_env(raw, where=str(path))
    spec = validate_spec(raw, where=str(path))
    return LoadedSpec(spec=spec, path=path.resolve(), base_dir=path.resolve().parent)


def validate_spec(raw: dict[str, Any], where: str = "spec") -> Spec:
    """Validate ``raw`` as a :class:`Spec`, including the algorithm's and tasks' own params."""
    try:
        spec = Spec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise SpecError(_describe(exc, where, Spec)) from None
    try:
        algorithm = algorithms.get(spec.algorithm.name)
    except UnknownPluginError as exc:
        raise SpecError(f"{where}: algorithm.name: {exc}") from None
    try:
        params = algorithm.Params.model_validate(spec.algorithm.params)
    except pydantic.ValidationError as exc:
        raise SpecError(_describe(exc, where, algorithm.Params, "algorithm.params")) from None
    spec.algorithm.params = params.model_dump(mode="json")
    for i, (task, task_params) in enumerate(spec.benchmark_tasks()):
        try:
            benchmark = benchmarks.get(task)
        except UnknownPluginError as exc:
            raise SpecError(f"{where}: benchmarks[{i}]: {exc}") from None
        if "metric" in benchmark.Params.model_fields and "metric" not in task_params:
            # a task scores with the table's own metric unless the spec says otherwise
            task_params = {**task_params, "metric": spec.publish.metric}
        try:
            checked = benchmark.Params.model_validate(task_params)
        except pydantic.ValidationError as exc:
            prefix = f"benchmarks[{i}].{task}"
            raise SpecError(_describe(exc, where, benchmark.Params, prefix)) from None
        spec.benchmarks[i] = {task: checked.model_dump(mode="json")}
    return spec


def _describe(
    exc: pydantic.ValidationError, where: str, model: type[pydantic.BaseModel], prefix: str = ""
) -> str:
    """One line per problem: ``file: field.path: what is wrong; allowed: ...``."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        field = ".".join(filter(None, [prefix, *loc])) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(model, [p for p in error["loc"][:-1]])
            message = "unknown field" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
        elif error["type"] == "missing":
            message = "required field is missing"
        lines.append(f"{where}: {field}: {message}")
    return "; ".join(lines)


def _allowed_fields(model: type[pydantic.BaseModel], loc: list[Any]) -> list[str]:
    """Field names of the (nested) model at ``loc``, for 'unknown field' messages."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_of(field.annotation)
        if current is None:
            return []
    return sorted(getattr(current, "model_fields", {}))


def _model_of(annotation: Any) -> type[pydantic.BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
