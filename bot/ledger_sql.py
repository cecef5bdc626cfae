"""The statements of the ledger's hot path, written once.

A hold and its settle run these thousands of times a second. Built as SQLAlchemy Core
expressions each time, they cost more in construction and cache-key work than SQLite takes to
run them; as prepared ``text()`` they are compiled once. The SQL is the same on SQLite (3.35 or
newer: RETURNING) and PostgreSQL. Timestamps are bound with the columns' own types, so they are
stored exactly as the ORM stores them.

On SQLite's writer thread (bot/sqlite_writer.py) even a prepared statement spent ten times longer
in SQLAlchemy's execution machinery (events, result metadata, parameter processing) than in
SQLite: ``run`` hands the same SQL straight to the ``sqlite3`` connection there, inside the same
transaction, and goes through SQLAlchemy everywhere else.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

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


_SQLITE = sqlite.dialect()
# How SQLAlchemy stores a timestamp on SQLite (text), so rows written either way read the same.
_STAMP = table(HoldRow).c.created_at.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)


def run(conn: Connection, statement: TextClause, params: dict[str, Any]) -> Any:
    """Execute ``statement``; the result has ``fetchone``, ``fetchall`` and ``rowcount``, and
    its rows are tuples in the statement's column order. A driver error is raised as
    SQLAlchemy's, whichever way the statement went."""
    driver = conn.connection.dbapi_connection
    if not isinstance(driver, sqlite3.Connection):
        return conn.execute(statement, params)
    assert _STAMP is not None
    values = {k: _STAMP(v) if isinstance(v, datetime) else v for k, v in params.items()}
    try:
        return driver.execute(statement.text, values)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement.text, values, exc, sqlite3.Error) from exc


def rowcount(conn: Connection, statement: TextClause, **params: Any) -> int:
    """Run an INSERT or UPDATE; how many rows it changed."""
    return int(run(conn, statement, params).rowcount)
