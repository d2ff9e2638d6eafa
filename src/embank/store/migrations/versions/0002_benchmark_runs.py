"""Benchmark runs: a version's figures can be re-computed after publish.

``benchmark_results.run`` numbers the runs of one version: 1 for the figures computed at
publish, then one more per ``embank benchmark``. ``show`` reports each figure's latest run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("benchmark_results") as batch:
        batch.add_column(sa.Column("run", sa.Integer, nullable=False, server_default="1"))
    op.create_index(
        "ix_benchmark_results_version", "benchmark_results", ["table_id", "version_number"]
    )


def downgrade() -> None:
    op.drop_index("ix_benchmark_results_version", table_name="benchmark_results")
    with op.batch_alter_table("benchmark_results") as batch:
        batch.drop_column("run")
