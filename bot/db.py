"""Database engine, transactions and table definitions (SQLite by default, PostgreSQL too)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.db_errors import connect_error, missing_driver, sqlite_folder_problem
from bot.pg_batches import Batched, Batcher
from bot.pg_statements import PgStatements
from bot.sqlite_paths import sqlite_file
from bot.sqlite_turns import WriteTurns
from bot.sqlite_writer import SQLiteWriter

T = TypeVar("T")
WAL_CHECKPOINT_PAGES = 10_000
# Seconds to open a PostgreSQL connection.
CONNECT_TIMEOUT = 10

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for long-lived ids.
IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012


class GuildAccount(Base):
    __tablename__ = "guild_accounts"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HoldRow(Base):
    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guild_accounts.guild_id"))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    command: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    actual: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_holds_status", "status"),
        Index("ix_holds_member_time", "guild_id", "user_id", "created_at"),
    )


class LedgerEntry(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guild_accounts.guild_id"))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(240), unique=True)
    command: Mapped[str | None] = mapped_column(String(64))
    hold_id: Mapped[int | None] = mapped_column(IdType)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_ledger_guild_time", "guild_id", "created_at"),)


class GuildSettings(Base):
    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    default_gpt: Mapped[str | None] = mapped_column(String(80))
    default_model: Mapped[str | None] = mapped_column(String(120))
    alert_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    alert_threshold: Mapped[int | None] = mapped_column(BigInteger)
    alert_sent: Mapped[bool] = mapped_column(default=False)
    moderation: Mapped[bool] = mapped_column(default=False)
    log_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    # collapsed | shown | off: what members see of a reasoning model's thinking.
    reasoning_mode: Mapped[str] = mapped_column(String(12), default="collapsed",
                                                server_default="collapsed")  # fmt: skip


class AnswerReasoning(Base):
    """What a reasoning model thought before an answer, for its "Show reasoning" button."""

    __tablename__ = "answer_reasoning"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnswerText(Base):
    """A finished answer's text, for its Read aloud button (works after a restart)."""

    __tablename__ = "answer_texts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SpendLimit(Base):
    """A daily cap for a member or for everyone with a role; the lowest that applies wins."""

    __tablename__ = "spend_limits"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # member | role
    target_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    daily_cap: Mapped[int] = mapped_column(BigInteger)


class Cooldown(Base):
    """Seconds a member must wait between two uses of a paid command."""

    __tablename__ = "cooldowns"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    command: Mapped[str] = mapped_column(String(32), primary_key=True)
    seconds: Mapped[int] = mapped_column(Integer)


class CooldownMark(Base):
    __tablename__ = "cooldown_marks"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    command: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_at: Mapped[datetime]


class SharedGPT(Base):
    """A custom GPT a member added to the guild's catalog."""

    __tablename__ = "shared_gpts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    gizmo_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    avatar_url: Mapped[str | None] = mapped_column(Text)
    starters: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    added_by: Mapped[int] = mapped_column(BigInteger)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("guild_id", "gizmo_id"),)


class Conversation(Base):
    """A /gpt exchange that members can continue, keyed by its thread (or answer message)."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    model: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(IdType, ForeignKey("conversations.id"))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_turns_conversation", "conversation_id", "id"),)


class JobRow(Base):
    """One upstream task (image, song, video) from submit to delivery."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(
        String(200), unique=True
    )  # idempotency: interaction id + action
    kind: Mapped[str] = mapped_column(String(32))  # what the member asked: imagine, upscale, song…
    provider: Mapped[str] = mapped_column(String(32))  # the poller family: mj, suno, kling…
    upstream_id: Mapped[str | None] = mapped_column(String(200))
    guild_id: Mapped[int] = mapped_column(BigInteger)
    shard: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(16), default="en-US")
    parent_id: Mapped[int | None] = mapped_column(IdType)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[str] = mapped_column(Text)  # JSON
    result: Mapped[str | None] = mapped_column(Text)  # JSON
    error: Mapped[str | None] = mapped_column(Text)
    hold_id: Mapped[int | None] = mapped_column(IdType)
    deadline: Mapped[datetime]
    next_poll_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    poll_errors: Mapped[int] = mapped_column(Integer, default=0)
    delivery: Mapped[str] = mapped_column(String(16), default="none")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]  # when it reached a terminal status

    __table_args__ = (
        Index("ix_jobs_poll", "provider", "status", "shard", "next_poll_at"),
        Index("ix_jobs_delivery", "delivery"),
    )


def table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


# Movements of one guild all update its account row. Thirty connections queued on that row's
# lock made PostgreSQL slower (240 pairs/s at 100 workers) than a few did (700-950): a waiter's
# wake-up and re-check cost more than the update. Waiting here instead is cheap.
STATEMENTS_IN_FLIGHT = 6


class Database:
    """Owns the engine. ``transaction()`` and ``write()`` are the only ways writes happen.

    The schema is made and changed by migrations (``bot.migrations.upgrade``), never from the
    models directly: a table created from them would carry no revision to upgrade from.
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        connect_args: Mapping[str, Any] | None = None,
        read_only: bool = False,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "connect_args": dict(connect_args or {})}
        engine_url = url
        if self.is_sqlite:
            kwargs["connect_args"].setdefault("timeout", 30)
            path = sqlite_file(url)
            if read_only and path is not None:
                # ``atelier doctor`` looks without creating or changing anything. With no WAL
                # files beside it no process has the database open and all of it is in the
                # main file: "immutable" then reads it without creating -wal and -shm files.
                live = Path(f"{path}-wal").exists() or Path(f"{path}-shm").exists()
                flags = "mode=ro" if live else "mode=ro&immutable=1"
                engine_url = f"sqlite+aiosqlite:///file:{path}?{flags}&uri=true"
        else:
            # No pre-ping: it cost a BEGIN, a ";" and a ROLLBACK on every checkout. A connection
            # the server closed fails its statement and is discarded by the pool instead, and
            # recycling bounds how long an idle one may sit behind a proxy's timeout.
            kwargs.update(pool_size=10, max_overflow=20, pool_recycle=300)
            # asyncpg waits a minute by default; a server that is down should be said sooner.
            kwargs["connect_args"].setdefault("timeout", CONNECT_TIMEOUT)
        try:
            self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        except ModuleNotFoundError as exc:
            raise (missing_driver(url, exc) or exc) from exc
        # SQLite allows one writer; queueing writers here is cheaper than its busy-wait backoff.
        self._sqlite_writer = WriteTurns() if self.is_sqlite else None
        self._writer: SQLiteWriter | None = None
        self._statements = (
            None
            if self.is_sqlite
            else PgStatements(
                make_url(engine_url), self.engine.dialect, kwargs["connect_args"],
                STATEMENTS_IN_FLIGHT,
            )
        )  # fmt: skip
        self._batchers: dict[Batched, Batcher] = {}
        if self._sqlite_writer is not None:
            _configure_sqlite(self.engine.sync_engine, read_only=read_only)
            database = make_url(url).database
            if database and database != ":memory:" and not read_only:
                engine = create_engine(
                    make_url(url).set(drivername="sqlite"),
                    echo=echo,
                    pool_size=1,
                    max_overflow=0,
                    connect_args={**kwargs["connect_args"], "check_same_thread": False},
                )
                _configure_sqlite(engine)
                self._writer = SQLiteWriter(
                    engine.execution_options(atelier_write=True), self._sqlite_writer
                )

    async def check_connection(self) -> None:
        """Open one connection first, so that a database that cannot be opened is one clear
        ``OperatorError`` naming database.url (the cause kept for DEBUG logs)."""
        problem = sqlite_folder_problem(self.url) if self.is_sqlite else None
        if problem is not None:
            raise problem
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise (connect_error(self.url, exc) or exc) from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit of work: committed on success, rolled back on any exception."""
        if self._sqlite_writer is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_writer, self.engine.connect() as conn:
            await conn.execution_options(atelier_write=True)
            async with conn.begin():
                yield conn

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (plain, blocking SQLAlchemy Core) as one transaction and return its
        result; an exception rolls it back. On a SQLite file the transaction is one hop to the
        writer thread (bot/sqlite_writer.py); elsewhere it runs through ``run_sync``."""
        if self._writer is None:
            async with self.transaction() as conn:
                return await conn.run_sync(work)
        return await self._writer.run(work)

    async def movement(self, batched: Batched, params: Mapping[str, Any]) -> list[Any]:
        """A movement of credit as one statement, its own transaction, and its rows: on
        PostgreSQL one round trip where BEGIN and COMMIT would add two (bot/pg_statements.py),
        sent together with the others of its kind that wait while one is in flight
        (bot/pg_batches.py). Rows are tuples in the statement's column order; none: it moved
        nothing. Not on SQLite, whose writes queue for its one writer (``write``)."""
        assert self._statements is not None
        batcher = self._batchers.get(batched)
        if batcher is None:
            batcher = self._batchers[batched] = Batcher(batched, self._statements.rows)
        return await batcher.rows(params)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads that need no lock (WAL readers never block the writer)."""
        async with self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.drain()
        if self._statements is not None:
            await self._statements.close()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self.engine.dispose()


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is what runs: a
        # deferred BEGIN that later writes can fail with "database is locked" without waiting.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint syncs the file twice. At SQLite's default (every 1,000 pages) a hold and
        # its settle, sixteen pages, paid for one every 60 pairs; every 10,000 pages (a WAL of
        # 40 MB at most) the ledger ran 10-25 % faster.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "close")
    def _on_close(dbapi_conn: Any, _record: Any) -> None:
        # A task cancelled while its statement ran leaves that statement unfinalised, and
        # SQLite then keeps the closed connection alive, write lock and all, until the
        # statement is garbage-collected: every other writer would wait out its busy timeout.
        # Rolling back first releases the lock now. (Outside a greenlet this cannot run; that
        # is the garbage-collection path, where the statement is already gone.)
        with contextlib.suppress(Exception):
            dbapi_conn.rollback()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("atelier_write", False)
        driver = conn.connection.dbapi_connection
        if getattr(driver, "in_transaction", False):
            return  # the SQLite writer's batch began it (bot/sqlite_writer.py)
        # Straight to the driver: this runs before every transaction.
        cursor = driver.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        finally:
            cursor.close()


async def insert_ignore(
    conn: AsyncConnection, model: type[Base], values: Mapping[str, Any]
) -> bool:
    """INSERT that does nothing on a key conflict; True when a row was inserted."""
    return await conn.run_sync(insert_ignore_now, model, values)


def insert_ignore_now(conn: Connection, model: type[Base], values: Mapping[str, Any]) -> bool:
    """``insert_ignore`` on a plain connection (inside ``Database.write``)."""
    result: CursorResult[Any] = conn.execute(on_conflict_insert(conn, model).values(**values))
    return result.rowcount == 1


def on_conflict_insert(conn: Connection, model: type[Base]) -> Any:
    """An INSERT of the connection's dialect that does nothing on any key conflict."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table(model)).on_conflict_do_nothing()
