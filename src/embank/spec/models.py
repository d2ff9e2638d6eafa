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
    "HoldoutSpec",
    "KeyColumn",
    "LabelColumns",
    "LabelsSource",
    "NumericColumn",
    "PairColumns",
    "PairsSource",
    "PublishSpec",
    "RefreshSpec",
    "SelectSpec",
    "Spec",
    "TableSource",
    "TextColumns",
    "TextSource",
]

SourceFormat = Literal["auto", "csv", "tsv", "parquet", "json", "mat"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Located(_Model):
    """A table read from a file (``path``) or computed by a DuckDB query (``sql``)."""

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

    @model_validator(mode="after")
    def _one_of_path_or_sql(self) -> _Located:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of 'path' or 'sql'")
        return self


class _Source(_Located):
    """A source whose keys are all of one entity type."""

    entity: str = Field(description="Entity type of the keys this source names, e.g. 'user'.")

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        return _checked(names.check_entity, value)


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


class PairColumns(_Model):
    src: str = Field("src", description="Column holding the source key (e.g. the user).")
    dst: str = Field("dst", description="Column holding the destination key (e.g. the item).")
    weight: str | None = Field(None, description="Column of weights; absent means 1.")
    ts: str | None = Field(None, description="Column of event times, for sequences and hold-out.")
    session: str | None = Field(None, description="Column of session ids, for sequences.")


class PairsSource(_Located):
    """Pairs between two entity types: ``data.interactions`` and each of ``data.relations``."""

    src: str = Field(description="Entity type of the source keys, e.g. 'user'.")
    dst: str = Field(description="Entity type of the destination keys, e.g. 'item'.")
    columns: PairColumns = Field(
        default_factory=PairColumns, description="Which source columns are src, dst, weight, ts."
    )

    @field_validator("src", "dst")
    @classmethod
    def _entities(cls, value: str) -> str:
        return _checked(names.check_entity, value)


class TextColumns(_Model):
    key: str = Field("key", description="Column holding the key.")
    text: str = Field("text", description="Column holding the text (title, description, bio).")


class TextSource(_Source):
    """``data.text``: one text per key, for text embeddings and benchmarks."""

    columns: TextColumns = Field(
        default_factory=TextColumns, description="Which source columns are key and text."
    )


class NumericColumn(_Model):
    bins: list[float] | None = Field(
        None, description="Bucket edges; the column becomes categorical buckets when given."
    )


class KeyColumn(_Model):
    key: str = Field("key", description="Column holding the key.")


class TableSource(_Source):
    """``data.metadata`` / ``data.features``: a key column plus categorical and numeric ones."""

    columns: KeyColumn = Field(default_factory=KeyColumn, description="Which column is the key.")
    categorical: list[str] = Field(
        default_factory=list, description="Columns of categories (one-hot encoded)."
    )
    numeric: dict[str, NumericColumn | None] = Field(
        default_factory=dict, description="Numeric columns, each optionally with bins."
    )

    @model_validator(mode="after")
    def _some_columns(self) -> TableSource:
        if not self.categorical and not self.numeric:
            raise ValueError("list at least one column under 'categorical' or 'numeric'")
        return self


class HoldoutSpec(_Model):
    """Pairs kept out of the fit, for benchmarks (recommendation, link prediction)."""

    fraction: float = Field(
        gt=0, lt=1, description="Share of pairs held out (per user for by: user)."
    )
    by: Literal["edge", "user", "time"] = Field(
        "user",
        description="edge: random pairs (the only choice for data.edges: random edges, "
        "never a node's last); user: a random share of each user's; "
        "time: each user's latest share (needs columns.ts).",
    )
    seed: int = Field(0, ge=0, description="Seed of the random hold-out.")


class DataSpec(_Model):
    edges: EdgesSource | None = Field(
        None, description="A graph over one entity type: edges between its keys."
    )
    interactions: PairsSource | None = Field(
        None, description="Who interacted with what (users x items), with weights and times."
    )
    relations: dict[str, PairsSource] | None = Field(
        None, description="Several relation types between entity types, by relation name."
    )
    text: TextSource | None = Field(None, description="A text per key, e.g. item titles.")
    features: TableSource | None = Field(
        None, description="A wide feature table per key, for feature compression."
    )
    metadata: TableSource | None = Field(
        None, description="Columns per key (gender, age, ...) for metadata prediction."
    )
    labels: LabelsSource | None = Field(None, description="Labels of keys, for benchmarks.")

    @model_validator(mode="after")
    def _something_to_embed(self) -> DataSpec:
        if not any((self.edges, self.interactions, self.relations, self.text, self.features)):
            raise ValueError("give one of edges, interactions, relations, text or features")
        return self

    def entities(self) -> list[str]:
        """Every entity type the sections name, in first-seen order."""
        seen: list[str] = []
        for source in (self.edges, self.text, self.features, self.metadata, self.labels):
            if source is not None:
                seen.append(source.entity)
        for pairs in [self.interactions, *(self.relations or {}).values()]:
            if pairs is not None:
                seen += [pairs.src, pairs.dst]
        return list(dict.fromkeys(seen))


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
    ties: Literal["source", "shuffle"] = Field(
        "source",
        description=(
            "How a sequence orders events with the same ts: in source order, or shuffled "
            "(seeded by select.seed), for sources that sort same-second events by item id."
        ),
    )
    seed: int = Field(0, ge=0, description="Seed of random choices in selection (ties).")


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
    map: bool = Field(
        True, description="Draw the web UI's 2-D map of the version after it is published."
    )
    index: Literal["auto", "none", "exact", "hnswlib", "faiss-hnsw", "ivfpq"] = Field(
        "auto",
        description="Nearest-neighbour index built after publish: auto (exact search under "
        "20,000 rows per entity type, else hnswlib), none, or one kind.",
    )
    recall_target: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Recall@10 against exact search the index's search setting is tuned to.",
    )

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, values: list[str]) -> list[str]:
        for alias in values:
            _checked(names.check_alias, alias)
            if alias == "latest":
                raise ValueError("'latest' is moved by every publish; do not list it")
        return values


class RefreshSpec(_Model):
    """``refresh:``: how ``embank refresh`` makes the next version (docs/refresh.md)."""

    warm_start: bool = Field(
        False,
        description="Start the fit from the previous version's vectors (algorithms that can; "
        "the others fit cold). Also accepted at the spec's top level.",
    )
    align: Literal["procrustes", "none"] = Field(
        "procrustes",
        description="Rotate the new vectors onto the previous version (orthogonal Procrustes "
        "over shared, well-supported keys) before benchmarks and publish; 'none' leaves them.",
    )
    min_support: int = Field(
        50,
        ge=0,
        description="Keys with at least this many edges or interactions anchor the rotation.",
    )
    seed_floor: bool = Field(
        True,
        description="Measure the seed floor (drift between two cold fits with other seeds) "
        "once per spec for stochastic algorithms; a gate naming seed_floor measures it always.",
    )
    gates: list[str] = Field(
        default_factory=list,
        description="Drift gates, 'FIGURE OP NUMBER [* seed_floor]', e.g. "
        "'drift.overlap_at_10.median >= 0.8 * seed_floor': passing keeps the previous "
        "space_id; failing needs --new-space to publish.",
    )
    schedule: str | None = Field(
        None,
        description="Cron string (five fields, UTC) of when the table is due: "
        "`embank refresh --due` refreshes it once per due time. Also accepted at the top level.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron string of five fields (minute hour day month "
                "weekday), e.g. '0 3 * * *' for 03:00 UTC daily"
            )
        return value

    @field_validator("gates")
    @classmethod
    def _drift_gates(cls, values: list[str]) -> list[str]:
        for text in values:
            if not text.strip().startswith("drift."):
                raise ValueError(
                    f"refresh.gates judge drift figures (drift.…); move {text!r} to 'gates'"
                )
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
    holdout: HoldoutSpec | None = Field(
        None, description="Hold pairs out of the fit for benchmarks (opt-in)."
    )
    publish: PublishSpec = Field(default_factory=PublishSpec, description="Publish settings.")
    refresh: RefreshSpec = Field(
        default_factory=RefreshSpec,
        description="How `embank refresh` makes the next version: warm start, alignment, "
        "drift gates, schedule.",
    )

    @model_validator(mode="before")
    @classmethod
    def _refresh_shorthands(cls, data: Any) -> Any:
        """``warm_start:`` and ``schedule:`` at the top level (the issue's and DESIGN.md's
        spelling) mean the same fields under ``refresh:``; giving both is refused."""
        if not isinstance(data, dict) or not ({"warm_start", "schedule"} & set(data)):
            return data
        data = dict(data)
        section = dict(data.get("refresh") or {})
        for name in ("warm_start", "schedule"):
            if name in data:
                if name in section:
                    raise ValueError(f"give {name} once: at the top level or under refresh")
                section[name] = data.pop(name)
        data["refresh"] = section
        return data

    @field_validator("gates")
    @classmethod
    def _no_drift_gates(cls, values: list[str]) -> list[str]:
        for text in values:
            if text.strip().startswith("drift."):
                raise ValueError(
                    f"{text!r} judges drift, which only a refresh measures: "
                    "move it to refresh.gates"
                )
        return values

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
        used = self.data.entities()
        declared = self.entities or used
        missing = sorted(set(used) - set(declared))
        if missing:
            raise ValueError(f"data uses entity types {missing} that 'entities' does not declare")
        self.entities = declared
        return self

    def benchmark_tasks(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, dict(params or {})) for item in self.benchmarks for name, params in item.items()
        ]
