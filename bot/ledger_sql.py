"""The statements of the ledger's hot path, written once.

A hold and its settle run these thousands of times a second. Built as SQLAlchemy Core
expressions each time, they cost more in construction and cache-key work than SQLite takes to
run them; as prepared ``text()`` they are compiled once. The SQL is the same on SQLite (3.35 or
newer: RETURNING) and PostgreSQL. Timestamps are bound with the columns' own types, so they are
stored exactly as the ORM stores them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.engine import Connection

from bot.db import HoldRow, LedgerEntry, table

HOLD_COLUMNS = 'id, guild_id, user_id, "key", command, amount, status, actual'


def _stamped(sql: str, name: str, column: Any) -> TextClause:
    return text(sql).bindparams(bindparam(name, type_=column.type))


INSERT_HOLD = _stamped(
    'INSERT INTO holds (guild_id, user_id, "key", command, amount, status, created_at) '
    "VALUES (:guild, :user, :key, :command, :amount, 'open', :now) "
    f"ON CONFLICT DO NOTHING RETURNING {HOLD_COLUMNS}",
    "now",
    table(HoldRow).c.created_at,
)
CLOSE_HOLD_SQL = (
    "UPDATE holds SET status = :status, closed_at = :now, "
    "actual = CASE WHEN amount < :wanted THEN amount ELSE :wanted END "
    f"WHERE id = :id AND status = 'open' RETURNING {HOLD_COLUMNS}"
)
CLOSE_HOLD = _stamped(CLOSE_HOLD_SQL, "now", table(HoldRow).c.closed_at)
SELECT_HOLD = text(f"SELECT {HOLD_COLUMNS} FROM holds WHERE id = :id")
SELECT_HOLD_BY_KEY = text(f'SELECT {HOLD_COLUMNS} FROM holds WHERE "key" = :key')

_LEDGER_ROW = (
    'INSERT INTO ledger (guild_id, user_id, kind, amount, "key", command, hold_id, note, '
    "created_at) VALUES (:guild, :user, :kind, :amount, :key, :command, :hold, :note, :now)"
)
APPEND = _stamped(_LEDGER_ROW, "now", table(LedgerEntry).c.created_at)
APPEND_ONCE = _stamped(
    _LEDGER_ROW + " ON CONFLICT DO NOTHING", "now", table(LedgerEntry).c.created_at
)

DEBIT = text(
    "UPDATE guild_accounts SET balance = balance - :amount "
    "WHERE guild_id = :guild AND balance >= :amount"
)
CREDIT = text("UPDATE guild_accounts SET balance = balance + :amount WHERE guild_id = :guild")
CREDIT_UP_TO = text(
    "UPDATE guild_accounts SET balance = balance + :amount "
    "WHERE guild_id = :guild AND balance <= :room"
)


def rowcount(conn: Connection, statement: TextClause, **params: Any) -> int:
    """Run an INSERT or UPDATE; how many rows it changed."""
    return int(conn.execute(statement, params).rowcount)  # type: ignore[attr-defined]
