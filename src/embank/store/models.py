"""What the bank tells about its tables: one pydantic model per answer.

The CLI's ``--json`` output and the HTTP API's bodies are these models, so the two
never disagree. Times are RFC 3339 UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FigureInfo", "Neighbor", "ShowResult", "TableInfo", "VersionInfo"]


class _Info(BaseModel):
    model_config = ConfigDict(frozen=True)


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


class VersionInfo(_Info):
    number: int = Field(description="Version number, from 1.")
    status: str = Field(description="active or deprecated.")
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
    task: str
    figure: str = Field(description="task.metric[_at_N], e.g. topic_prediction.macro_f1_at_50.")
    value: float
    baseline: float | None = None
    baseline_name: str | None = None
    sample_size: int | None = None
    seed: int | None = None
    run_time_s: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ShowResult(_Info):
    table: TableInfo
    version: VersionInfo
    benchmarks: list[FigureInfo]
    drift: dict[str, Any] | None = Field(None, description="Drift against the previous version.")


class Neighbor(_Info):
    entity: str
    key: str
    score: float
