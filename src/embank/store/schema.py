"""The registry's tables (SQLAlchemy Core). Changes go through a migration in migrations/."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["SCHEMA_REVISION", "metadata"]

#: the newest migration; a bank whose schema_version differs must run `embank migrate`
SCHEMA_REVISION = "0002"

metadata = sa.MetaData()
_ts = sa.DateTime(timezone=True)

tables = sa.Table(
    "tables",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(127), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("owner", sa.String(255), nullable=False, default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("entities", sa.JSON, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(16), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("parent", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("space_id", sa.String(36), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("input_fingerprint", sa.String(64), nullable=True),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("spec", sa.JSON, nullable=True),
    sa.Column("lineage", sa.JSON, nullable=False),
    sa.Column("storage_path", sa.String(512), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.UniqueConstraint("table_id", "number", name="uq_versions_table_number"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)

alias_history = sa.Table(
    "alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
    sa.Column("alias", sa.String(63), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=True),  # null: the alias was removed
    sa.Column("previous_version", sa.Integer, nullable=True),
    sa.Column("moved_at", _ts, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
)

benchmark_results = sa.Table(
    "benchmark_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    # 1: computed at publish; each `embank benchmark` of the version adds the next run
    sa.Column("run", sa.Integer, nullable=False, server_default="1"),
    sa.Column("task", sa.String(63), nullable=False),
    sa.Column("figure", sa.String(127), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("baseline", sa.Float, nullable=True),
    sa.Column("baseline_name", sa.String(63), nullable=True),
    sa.Column("sample_size", sa.Integer, nullable=True),
    sa.Column("seed", sa.Integer, nullable=True),
    sa.Column("run_time_s", sa.Float, nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Index("ix_benchmark_results_version", "table_id", "version_number"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(63), nullable=False),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _ts, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(63), nullable=False),
    sa.Column("table_name", sa.String(127), nullable=True),
    sa.Column("version_number", sa.Integer, nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
)

bank_info = sa.Table(
    "bank_info",
    metadata,
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
