"""The first registry schema: tables, versions, aliases with history, benchmark results,
artifacts, an audit log and the bank's own settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tables",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(127), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("entities", sa.JSON, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_table(
        "versions",
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
    op.create_table(
        "aliases",
        sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), primary_key=True),
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("version_number", sa.Integer, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
        sa.Column("alias", sa.String(63), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=True),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("moved_at", _ts, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
    )
    op.create_table(
        "benchmark_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=False),
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
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_id", sa.Integer, sa.ForeignKey("tables.id"), nullable=False),
        sa.Column("version_number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _ts, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(63), nullable=False),
        sa.Column("table_name", sa.String(127), nullable=True),
        sa.Column("version_number", sa.Integer, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_table(
        "bank_info",
        sa.Column("key", sa.String(63), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "bank_info",
        "audit_log",
        "artifacts",
        "benchmark_results",
        "alias_history",
        "aliases",
        "versions",
        "tables",
    ):
        op.drop_table(name)
