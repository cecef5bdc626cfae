"""jobs.finished_at: when a job reached succeeded, failed or timed_out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

updated_at moves on again when the result is delivered, possibly after a restart, so it cannot
tell how long a job took or how old a finished one is. Jobs finished before this revision get
their updated_at, the closest time known.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TERMINAL = ("succeeded", "failed", "timed_out")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    jobs = sa.table(
        "jobs",
        sa.column("status", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("finished_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        jobs.update().where(jobs.c.status.in_(TERMINAL)).values(finished_at=jobs.c.updated_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("finished_at")
