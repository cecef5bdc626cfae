"""guild_settings.reasoning_mode, and answer_reasoning: a reasoning model's thinking.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

collapsed (the default: a live status, then a "Show reasoning" button), shown (quoted above the
answer) or off. Existing servers get the default. answer_reasoning keeps what the model
thought, for the button, across restarts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.add_column(
            sa.Column(
                "reasoning_mode", sa.String(12), nullable=False, server_default="collapsed"
            )
        )
    op.create_table(
        "answer_reasoning",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("answer_reasoning")
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("reasoning_mode")
