"""What the bank tells about its tables: one pydantic model per answer.

The CLI's ``--json`` output and the HTTP API's bodies are these models, so the two
never disagree. Times are RFC 3339 UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AliasResult",
    "BenchmarkRunResult",
    "CheckProblem",
    "CheckResult",
    "CompareFigure",
    "CompareRef",
    "CompareResult",
    "EditResult",
    "FigureInfo",
    "LastRefresh",
    "Neighbor",
    "RebuildResult",
    "ResolvedVersion",
    "ShowResult",
    "StatusResult",
    "TableInfo",
    "VersionInfo",
]


class _Info(BaseModel):
    model_config = ConfigDict(frozen=True)


class LastRefresh(_Info):
    """The outcome of a table's last ``embank refresh``, from the audit log."""

    outcome: str = Field(
        description="published, unchanged, gate_failed, ... as the refresh recorded it; "
        "unknown when the table was never refreshed (or the record says nothing)."
    )
    at: dt.datetime | None = Field(None, description="When it finished.")
    version: int | None = Field(None, description="The version it published or kept.")


class TableInfo(_Info):
    name: str = Field(description="Table name, namespace/name.")
    description: str = Field(description="What the table is.")
    owner: str = Field(description="Team or person who answers for it.")
    tags: list[str] = Field(description="Words to find it by.")
    entities: list[str] = Field(description="Entity types of its keys.")
    dim: int = Field(description="Dimension of the vectors.")
    metric: str = Field(description="cosine or dot.")
    created_at: dt.datetime = Field(description="When the first version was published.")
    updated_at: dt.datetime = Field(description="When the table last changed.")
    latest_version: int | None = Field(None, description="The version 'latest' points to.")
    aliases: dict[str, int] = Field(default_factory=dict, description="Alias -> version.")
    n_versions: int = Field(0, description="How many versions were published.")
    latest_published_at: dt.datetime | None = Field(
        None,
        description="When the version 'latest' names was published; the table's age is the "
        "time since (listings only: ls, search, GET /tables).",
    )
    last_refresh: LastRefresh | None = Field(
        None, description="The table's last refresh and its outcome (listings only)."
    )


class VersionInfo(_Info):
    number: int = Field(description="Version number, from 1.")
    status: str = Field(description="active or deprecated.")
    status_reason: str | None = Field(
        None, description="Why the version is deprecated (embank deprecate --reason)."
    )
    kind: str = Field(description="full or patch.")
    parent: int | None = Field(None, description="The version this one was derived from.")
    aliases: list[str] = Field(description="Aliases pointing at this version.")
    space_id: str = Field(description="Vectors are comparable only within one space.")
    n_rows: int = Field(description="Rows (entity, key) in the version.")
    dim: int = Field(description="Dimension of the vectors.")
    content_hash: str = Field(description="sha256 over every row.")
    created_at: dt.datetime = Field(description="When it was published.")
    created_by: str = Field(description="Who published it.")
    code_version: str = Field(description="embank version that made it.")
    spec: dict[str, Any] | None = Field(None, description="The resolved spec it was made from.")
    lineage: dict[str, Any] = Field(description="Sources, fingerprints, algorithm, counts.")


class FigureInfo(_Info):
    task: str = Field(description="The benchmark task that computed the figure.")
    figure: str = Field(description="task.metric[_at_N], e.g. topic_prediction.macro_f1_at_50.")
    value: float = Field(description="The figure of the version's vectors.")
    baseline: float | None = Field(None, description="The trivial baseline's figure.")
    baseline_name: str | None = Field(None, description="random, popularity, degree, majority.")
    sample_size: int | None = Field(None, description="How many cases the figure averages.")
    seed: int | None = Field(None, description="Seed of the task's splits and samples.")
    run_time_s: float | None = Field(None, description="Seconds the task ran.")
    details: dict[str, Any] = Field(default_factory=dict, description="Task-specific notes.")
    run: int = Field(
        1, description="Benchmark run of the version: 1 at publish, then one per re-run."
    )
    created_at: dt.datetime | None = Field(None, description="When the figure was computed.")


class ResolvedVersion(_Info):
    """Which version a reference names right now (one cheap registry read)."""

    table: str = Field(description="Table name, namespace/name.")
    number: int = Field(description="Version number.")
    version_id: str = Field(description="The version's unique folder name: what caches key on.")

    @property
    def ref(self) -> str:
        return f"{self.table}@{self.number}"


class ShowResult(_Info):
    table: TableInfo
    version: VersionInfo
    benchmarks: list[FigureInfo]
    drift: dict[str, Any] | None = Field(None, description="Drift against the previous version.")


class Neighbor(_Info):
    entity: str
    key: str
    score: float


class BenchmarkRunResult(_Info):
    """What ``embank benchmark NAME@V`` computed and stored, beside the figures before it."""

    table: str = Field(description="Table name, namespace/name.")
    version: int = Field(description="The version whose stored vectors and inputs were judged.")
    space_id: str = Field(description="The version's space.")
    run: int = Field(description="The run number these figures were stored under.")
    tasks: dict[str, dict[str, Any]] = Field(description="Each task run, with its params.")
    figures: list[FigureInfo] = Field(description="The figures of this run.")
    previous: dict[str, float] = Field(
        default_factory=dict, description="Each figure's value stored before this run, if any."
    )


class CompareRef(_Info):
    """One compared version, with the lineage a reader needs to tell them apart."""

    ref: str = Field(description="The reference as given, e.g. demo/blogcatalog@2.")
    table: str = Field(description="Table name.")
    version: int = Field(description="Version number the reference resolved to.")
    aliases: list[str] = Field(description="Aliases pointing at the version.")
    space_id: str = Field(description="The version's space.")
    created_at: dt.datetime = Field(description="When the version was published.")
    n_rows: int = Field(description="Rows (entity, key) in the version.")
    dim: int = Field(description="Dimension of the vectors.")
    metric: str = Field(description="cosine or dot.")
    algorithm: str | None = Field(None, description="The algorithm that fitted the vectors.")
    params: dict[str, Any] = Field(default_factory=dict, description="The algorithm's params.")


class CompareFigure(_Info):
    """One figure across the compared refs; lists run in the order of ``refs``."""

    task: str = Field(description="The benchmark task.")
    figure: str = Field(description="task.metric[_at_N].")
    higher_is_better: bool = Field(description="Direction in which the figure improves.")
    values: list[float | None] = Field(description="Each ref's value (null: not computed).")
    baselines: list[float | None] = Field(description="Each ref's trivial baseline figure.")
    baseline_name: str | None = Field(None, description="Which trivial baseline.")
    deltas: list[float | None] = Field(description="Each value minus the first ref's.")
    delta_pcts: list[float | None] = Field(
        description="Each delta in percent of the first ref's value (null when it is 0)."
    )


class CompareResult(_Info):
    """``embank compare A B ...``: benchmark figures of versions side by side."""

    refs: list[CompareRef] = Field(description="The compared versions, the first is the base.")
    figures: list[CompareFigure] = Field(description="Figures, in the order the tasks gave them.")
    all_figures: bool = Field(
        description="True: every figure of any ref; false: only figures all refs share."
    )
    n_not_shared: int = Field(0, description="Figures left out because not every ref has them.")


class EditResult(_Info):
    """``embank edit``: the table after the edit, and what changed."""

    table: TableInfo = Field(description="The table as it is now.")
    changes: dict[str, dict[str, Any]] = Field(
        description="Each changed field: {before, after}; empty when nothing changed."
    )


class AliasResult(_Info):
    """``embank alias``: where an alias points now and where it pointed before."""

    table: str = Field(description="Table name, namespace/name.")
    alias: str = Field(description="The alias set, moved or deleted.")
    version: int | None = Field(description="The version it points to now (null: deleted).")
    previous: int | None = Field(description="The version it pointed to before (null: new).")
    changed: bool = Field(description="False when it already pointed there (nothing written).")


class StatusResult(_Info):
    """``embank deprecate`` / ``undeprecate``: a version's status before and after."""

    table: str = Field(description="Table name, namespace/name.")
    version: int = Field(description="The version whose status was set.")
    status: str = Field(description="active or deprecated, now.")
    previous_status: str = Field(description="The status before.")
    reason: str | None = Field(None, description="Why it is deprecated.")
    aliases: list[str] = Field(description="Aliases pointing at the version (they stay).")
    changed: bool = Field(description="False when it had that status already.")


class RebuildResult(_Info):
    """``embank online rebuild``: versions written into the online store again."""

    table: str = Field(description="Table name, namespace/name.")
    versions: list[int] = Field(description="The versions rebuilt.")
    online: str = Field(description="The online store (URL without password).")
    n_rows: int = Field(description="Rows written, all versions together.")
    n_compared: int = Field(
        description="Sampled keys whose online vectors were compared with vectors.parquet, "
        "bit for bit (all equal, or the rebuild fails)."
    )


class CheckProblem(_Info):
    table: str | None = Field(None, description="The table, when the problem has one.")
    version: int | None = Field(None, description="The version, when the problem has one.")
    problem: str = Field(description="What is wrong, in one line.")


class CheckResult(_Info):
    """``embank check``: the registry against the offline and online stores."""

    ok: bool = Field(description="True when no problem was found (leftovers are not problems).")
    deep: bool = Field(description="Whether file checksums and online parity were checked.")
    n_tables: int = Field(description="Tables checked.")
    n_versions: int = Field(description="Versions checked.")
    problems: list[CheckProblem] = Field(description="Everything found wrong.")
    leftovers: list[str] = Field(
        description="What no registry row references (failed or running publishes): "
        "`embank gc` removes it once older than --min-age-s."
    )
