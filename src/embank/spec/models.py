"""Typed models of the YAML spec that says how to make versions of one table.

Every field has a description: ``embank spec-help``, the docs and error messages all come
from here. Unknown fields are errors (``extra="forbid"``) so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from embank import names
from embank.errors import InvalidNameError


def _checked(check: Callable[[str], str], value: str) -> str:
    """Run a name check inside a validator, so pydantic reports it with the field."""
    try:
        return check(value)
    except InvalidNameError as exc:
        raise ValueError(str(exc)) from None


__all__ = [
    "AlgorithmSpec",
    "DataSpec",
    "EdgeColumns",
    "EdgesSource",
    "LabelColumns",
    "LabelsSource",
    "PublishSpec",
    "SelectSpec",
    "Spec",
]

SourceFormat = Literal["auto", "csv", "tsv", "parquet", "json", "mat"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Source(_Model):
    """A table read from a file (``path``) or computed by a DuckDB query (``sql``)."""

    entity: str = Field(description="Entity type of the keys this source names, e.g. 'user'.")
    path: str | None = Field(
        None,
        description="File or glob (CSV / TSV / Parquet / JSON, gzip too, or a .mat matrix); "
        "relative paths resolve against the spec's folder.",
    )
    sql: str | None = Field(
        None,
        description="A DuckDB query over files instead of path; relative file names in it "
        "resolve against the spec's folder.",
    )
    format: SourceFormat = Field("auto", description="File format; 'auto' goes by the file name.")

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        return _checked(names.check_entity, value)

    @model_validator(mode="after")
    def _one_of_path_or_sql(self) -> _Source:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of 'path' or 'sql'")
        return self


class EdgeColumns(_Model):
    src: str = Field("src", description="Column holding the source key of each edge.")
    dst: str = Field("dst", description="Column holding the destination key of each edge.")
    weight: str | None = Field(None, description="Column of edge weights; absent means 1.")


class EdgesSource(_Source):
    """``data.edges``: one relation whose ends are both of ``entity``."""

    columns: EdgeColumns = Field(
        default_factory=EdgeColumns, description="Which source columns are src, dst, weight."
    )
    directed: bool = Field(
        False, description="Whether an edge src -> dst says nothing of dst -> src."
    )
    mat_key: str = Field("network", description="Variable holding the adjacency in a .mat file.")


class LabelColumns(_Model):
    key: str = Field("key", description="Column holding the key.")
    label: str = Field("label", description="Column holding one label; repeat a key for several.")


class LabelsSource(_Source):
    """``data.labels``: (key, label) pairs used by topic prediction."""

    columns: LabelColumns = Field(
        default_factory=LabelColumns, description="Which source columns are key and label."
    )
    mat_key: str = Field("group", description="Variable holding the label matrix in a .mat file.")


class DataSpec(_Model):
    edges: EdgesSource = Field(description="The graph to embed: edges between keys of one entity.")
    labels: LabelsSource | None = Field(None, description="Labels of keys, for benchmarks.")


class SelectSpec(_Model):
    """Which entities and edges make it into the graph."""

    symmetrise: bool | None = Field(
        None, description="Add dst -> src for every src -> dst; defaults to true when undirected."
    )
    drop_self_loops: bool = Field(True, description="Drop edges from a key to itself.")
    dedupe: Literal["sum", "max", "first"] = Field(
        "max", description="How repeated edges combine their weights."
    )
    weighted: bool = Field(True, description="Use the weight column; false gives every edge 1.")
    min_degree: int = Field(
        0, ge=0, description="Drop keys with fewer edges than this (one pass, after dedupe)."
    )
    top_n: int | None = Field(
        None, ge=1, description="Keep only the N keys of highest degree (ties by key)."
    )


class AlgorithmSpec(_Model):
    name: str = Field(description="A registered algorithm, e.g. 'spectral'.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Params, checked by the algorithm's own model."
    )


class PublishSpec(_Model):
    metric: Literal["cosine", "dot"] = Field(
        "cosine", description="Similarity for neighbours; fixed by the table's first version."
    )
    aliases: list[str] = Field(
        default_factory=list, description="Aliases to move to the new version beside 'latest'."
    )

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, values: list[str]) -> list[str]:
        for alias in values:
            _checked(names.check_alias, alias)
            if alias == "latest":
                raise ValueError("'latest' is moved by every publish; do not list it")
        return values


class Spec(_Model):
    """How to make versions of one table."""

    table: str = Field(description="Table name, 'namespace/name'.")
    description: str = Field("", description="What the table is, for people searching the bank.")
    owner: str = Field("", description="Team or person who answers for the table.")
    tags: list[str] = Field(default_factory=list, description="Words to find the table by.")
    entities: list[str] | None = Field(
        None, description="Entity types of the table's keys; defaults to those of data.edges."
    )
    data: DataSpec = Field(description="Where the relationships (and labels) come from.")
    select: SelectSpec = Field(
        default_factory=SelectSpec, description="Which entities and edges to keep."
    )
    algorithm: AlgorithmSpec = Field(description="The algorithm that fits the vectors.")
    benchmarks: list[dict[str, dict[str, Any] | None]] = Field(
        default_factory=list,
        description="Tasks run on every new version, each '- task_name: {params}'.",
    )
    gates: list[str] = Field(
        default_factory=list,
        description="Conditions a version must meet to publish, "
        "'FIGURE OP NUMBER [* previous|baseline]', e.g. 'topic_prediction.macro_f1@50 >= 0.27'.",
    )
    publish: PublishSpec = Field(default_factory=PublishSpec, description="Publish settings.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _checked(names.check_table_name, value)

    @field_validator("entities")
    @classmethod
    def _entities(cls, values: list[str] | None) -> list[str] | None:
        if values is not None:
            if not values:
                raise ValueError("list at least one entity type")
            for value in values:
                _checked(names.check_entity, value)
        return values

    @field_validator("benchmarks")
    @classmethod
    def _one_task_per_item(
        cls, values: list[dict[str, dict[str, Any] | None]]
    ) -> list[dict[str, dict[str, Any] | None]]:
        for item in values:
            if len(item) != 1:
                raise ValueError("each benchmark item names one task: '- task_name: {params}'")
        return values

    @model_validator(mode="after")
    def _entities_cover_data(self) -> Spec:
        declared = self.entities or [self.data.edges.entity]
        used = {self.data.edges.entity} | ({self.data.labels.entity} if self.data.labels else set())
        missing = sorted(used - set(declared))
        if missing:
            raise ValueError(f"data uses entity types {missing} that 'entities' does not declare")
        self.entities = declared
        return self

    def benchmark_tasks(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, dict(params or {})) for item in self.benchmarks for name, params in item.items()
        ]
