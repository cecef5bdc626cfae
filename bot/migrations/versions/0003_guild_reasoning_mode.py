"""guild_settings.reasoning_mode: what members see of a reasoning model's thinking.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

collapsed (the default: a live status, then a "Show reasoning" button), shown (quoted above the
answer) or off. Existing servers get the default.
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


def downgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("reasoning_mode")
