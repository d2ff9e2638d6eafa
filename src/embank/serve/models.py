"""Bodies of the HTTP API that the store's models (:mod:`embank.store.models`) lack.

Tables, versions and ``show`` are answered with the store's own models, so ``embank ls |
search | show --json`` print exactly the body of the matching route; the request and
answer models of lookups, searches, publishes and alias moves are here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from embank.store.models import FigureInfo, Neighbor, TableInfo, VersionInfo

__all__ = [
    "AliasMove",
    "AliasMoved",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "KeyItem",
    "KeysResult",
    "LookupRequest",
    "LookupResult",
    "MapResult",
    "NeighborsRequest",
    "NeighborsResult",
    "TableDetail",
    "VersionDrift",
]

Key = Annotated[
    StrictStr | StrictInt,
    Field(description="An entity key; integer ids are taken as decimal text."),
]
VersionRef = Annotated[
    int | str | None,
    Field(description="Version number or alias; latest when omitted.", examples=[3, "production"]),
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Answer):
    type: str = Field(description="Stable machine name of the error, e.g. not_found_error.")
    message: str = Field(description="One line that says what went wrong and what to do.")
    status: int = Field(description="The HTTP status, repeated.")


class ErrorBody(_Answer):
    """Every error the API answers."""

    error: ErrorDetail


class Health(_Answer):
    status: str = Field(description="ok when the bank's registry answers.")
    embank_version: str = Field(description="The server's embank version.")
    writable: bool = Field(description="Whether write routes accept a token.")


class VersionDrift(_Answer):
    """How far one version moved from the version before it (stored by a refresh)."""

    version: int = Field(description="The version.")
    previous_version: int | None = Field(description="The version its drift is measured from.")
    space_id: str = Field(description="The version's space.")
    space_changed: bool | None = Field(
        description="Whether its space differs from the previous version's (null: first)."
    )
    space: str | None = Field(
        None, description="kept or new, as the refresh decided; null when not refreshed."
    )
    residual: float | None = Field(
        None, description="Relative Procrustes residual of the alignment onto the previous one."
    )
    figures: dict[str, float] = Field(
        description="Every drift.* figure: coverage, overlap_at_10, cosine_distance, ..."
    )


class TableDetail(_Answer):
    """A table with every version (aliases, lineage) and its latest version's figures."""

    table: TableInfo
    versions: list[VersionInfo] = Field(description="Every version, oldest first.")
    benchmarks: list[FigureInfo] = Field(description="Figures of the version 'latest' names.")
    drift: list[VersionDrift] = Field(
        default_factory=list,
        description="Drift of each version against the previous one, for the versions a "
        "refresh measured (oldest first).",
    )


SpaceId = Annotated[
    str | None,
    Field(
        max_length=64,
        description="The space the caller's vectors are from (a version's space_id): when "
        "the version that would answer is in another space, the call is refused with 409 "
        "mixed_spaces_error instead of mixing vectors of two spaces.",
    ),
]


class LookupRequest(_Request):
    keys: list[Key] = Field(description="Keys to look up, answered in this order.")
    entity: str | None = Field(
        None, description="Entity type of the keys; needed for a table with several."
    )
    version: VersionRef = None
    space_id: SpaceId = None


class LookupResult(_Answer):
    table: str = Field(description="Table name.")
    version: int = Field(description="The version that served the vectors.")
    space_id: str = Field(description="The version's space.")
    entity: str = Field(description="Entity type of the keys.")
    dim: int = Field(description="Dimension of the vectors.")
    keys: list[str] = Field(description="The keys, in the order asked, as text.")
    found: list[bool] = Field(description="Whether each key is in the version.")
    vectors: list[list[float] | None] = Field(
        description="Each key's float32 vector; null where the key is not in the version."
    )


class NeighborsRequest(_Request):
    key: Key | None = Field(None, description="Search around this key's vector ...")
    vector: list[FiniteFloat] | None = Field(
        None, description="... or around this vector (dim floats); give exactly one."
    )
    k: int = Field(10, ge=1, description="How many neighbours (at most the server's max_k).")
    entity: str | None = Field(None, description="Entity type of the key.")
    target: str | None = Field(None, description="Only neighbours of this entity type.")
    exclude: list[Key] = Field(
        default_factory=list, description="Keys (of the target type) to leave out."
    )
    relation: str | None = Field(
        None,
        max_length=64,
        description="A relation of a multi-relation table (e.g. follows): its operator "
        "moves the query first, and the target defaults to the relation's other end.",
    )
    version: VersionRef = None
    space_id: SpaceId = None


class NeighborsResult(_Answer):
    """The body of ``embank neighbors --json`` too."""

    table: str = Field(description="Table name.")
    version: int = Field(description="The version searched.")
    space_id: str = Field(description="The version's space.")
    key: str | None = Field(description="The key searched around; null for a vector.")
    neighbors: list[Neighbor] = Field(description="Best first, with the table's metric score.")


class AliasMove(_Request):
    version: int = Field(ge=1, strict=True, description="The version the alias is to point to.")


class AliasMoved(_Answer):
    table: str = Field(description="Table name.")
    alias: str = Field(description="The alias moved.")
    version: int = Field(description="The version it points to now.")
    previous: int | None = Field(description="The version it pointed to before, if any.")


class KeyItem(_Answer):
    entity: str = Field(description="Entity type of the key.")
    key: str = Field(description="The key.")


class KeysResult(_Answer):
    """Keys of one version that start with a prefix: suggestions for a search box."""

    table: str = Field(description="Table name.")
    version: int = Field(description="The version whose keys were searched.")
    space_id: str = Field(description="The version's space.")
    prefix: str = Field(description="The prefix searched (case-sensitive).")
    keys: list[KeyItem] = Field(description="Matching keys in stored order (bytewise).")


class MapResult(_Answer):
    """The stored 2-D map of a version: a seeded sample of its rows laid out in [0, 1]^2."""

    table: str = Field(description="Table name.")
    version: int = Field(description="The version drawn.")
    space_id: str = Field(description="The version's space.")
    method: str = Field(description="umap, or pca for small tables and without umap-learn.")
    params: dict[str, float | int] = Field(description="The layout's parameters.")
    seed: int = Field(description="Seed of the row sample and the layout.")
    n_rows: int = Field(description="Rows in the version.")
    n_points: int = Field(description="Rows drawn (at most 5,000).")
    color_by: str | None = Field(description="label, entity, or null: what colours the points.")
    entity_names: list[str] = Field(description="Entity types; 'entity' indexes into it.")
    entity: list[int] = Field(description="Each point's entity type.")
    label_entity: str | None = Field(description="Entity type the labels are of, if any.")
    label_names: list[str] = Field(
        description="The most common labels of the sample, then 'other'; 'label' indexes it."
    )
    label: list[int] = Field(description="Each point's most common label; -1: none.")
    n_labelled: int = Field(description="Points with a label.")
    keys: list[str] = Field(description="Each point's key.")
    x: list[float] = Field(description="Each point's x in [0, 1].")
    y: list[float] = Field(description="Each point's y in [0, 1].")
    build_s: float = Field(description="Seconds the map took to draw.")
    code_version: str = Field(description="embank version that drew it.")
