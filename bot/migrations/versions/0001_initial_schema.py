"""The schema as builds before migrations created it (with create_all, on every start).

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written out, not taken from the models, so that later revisions have a fixed point to change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# What a database made before migrations must hold to be stamped at this revision.
TABLES = (
    "guild_accounts",
    "holds",
    "ledger",
    "guild_settings",
    "spend_limits",
    "cooldowns",
    "cooldown_marks",
    "shared_gpts",
    "conversations",
    "conversation_turns",
    "jobs",
)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guild_accounts",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "holds",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("actual", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("closed_at", Time, nullable=True),
        sa.ForeignKeyConstraint(["guild_id"], ["guild_accounts.guild_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_holds_status", "holds", ["status"])
    op.create_index("ix_holds_member_time", "holds", ["guild_id", "user_id", "created_at"])
    op.create_table(
        "ledger",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(240), nullable=False),
        sa.Column("command", sa.String(64), nullable=True),
        sa.Column("hold_id", Id, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["guild_id"], ["guild_accounts.guild_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_ledger_guild_time", "ledger", ["guild_id", "created_at"])
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("default_gpt", sa.String(80), nullable=True),
        sa.Column("default_model", sa.String(120), nullable=True),
        sa.Column("alert_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_threshold", sa.BigInteger(), nullable=True),
        sa.Column("alert_sent", sa.Boolean(), nullable=False),
        sa.Column("moderation", sa.Boolean(), nullable=False),
        sa.Column("log_channel_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "spend_limits",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target_type", sa.String(8), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("daily_cap", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "target_type", "target_id"),
    )
    op.create_table(
        "cooldowns",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "command"),
    )
    op.create_table(
        "cooldown_marks",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("last_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", "command"),
    )
    op.create_table(
        "shared_gpts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("gizmo_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("starters", sa.Text(), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "gizmo_id"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id"),
    )
    op.create_table(
        "conversation_turns",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_turns_conversation", "conversation_turns", ["conversation_id", "id"])
    op.create_table(
        "jobs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("upstream_id", sa.String(200), nullable=True),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("parent_id", Id, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("hold_id", Id, nullable=True),
        sa.Column("deadline", Time, nullable=False),
        sa.Column("next_poll_at", Time, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("poll_errors", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_jobs_poll", "jobs", ["provider", "status", "shard", "next_poll_at"])
    op.create_index("ix_jobs_delivery", "jobs", ["delivery"])


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
