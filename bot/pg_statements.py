"""PostgreSQL's one-statement movements, straight through asyncpg.

A hold or a settle on PostgreSQL is one statement (bot/ledger_pg.py). Through SQLAlchemy's async
engine that statement cost 0.6 ms of this process's CPU: a greenlet switch for the pool checkout,
another for the execution, its events and its result metadata, against about 0.1 ms for asyncpg
itself. Here the statements go straight to asyncpg connections (bot/pg_connections.py), compiled
once by SQLAlchemy's asyncpg dialect (the SQL, casts and parameter order SQLAlchemy itself would
send), with the connection arguments SQLAlchemy would use. Each runs outside any transaction
block, so it is its own transaction. Errors are raised as SQLAlchemy's, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import Executable

from bot.pg_connections import PgConnections

# SQLAlchemy's own names for asyncpg options, and what asyncpg calls them.
_RENAMED = {"prepared_statement_cache_size": "statement_cache_size"}
_SQLALCHEMY_ONLY = ("prepared_statement_name_func", "async_creator_fn")


class PgStatements:
    """At most ``size`` statements in flight, on as many connections, opened lazily."""

    def __init__(
        self, url: URL, dialect: Dialect, connect_args: Mapping[str, Any], size: int
    ) -> None:
        _, options = dialect.create_connect_args(url)
        options.update(connect_args)
        for ours, theirs in _RENAMED.items():
            if ours in options:
                options[theirs] = options.pop(ours)
        for name in _SQLALCHEMY_ONLY:
            options.pop(name, None)
        self._dialect = dialect
        self._connections = PgConnections(options, size)
        self._compiled: dict[int, tuple[Executable, str, tuple[str, ...]]] = {}

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        lock_guilds: Sequence[int] | None = None,
    ) -> list[Sequence[Any]]:
        """The statement's rows. With ``lock_guilds``, the statement runs in a transaction that
        first locks those guilds' account rows, in guild order (FOR NO KEY UPDATE: see
        ``Ledger._balance_now``); BEGIN and the locks go as one simple query, one round trip."""
        import asyncpg

        sql, names = self._compile(statement)
        args = [params[name] for name in names]
        conn = await self._connections.take()
        try:
            if lock_guilds is None:
                rows = await conn.fetch(sql, *args)
            else:
                rows = await self._locked(conn, lock_guilds, sql, args)
        except asyncpg.PostgresError as exc:
            # The statement failed and its transaction is over: the connection is as it was.
            self._connections.give_back(conn)
            raise _as_sqlalchemy(exc, sql, args) from exc
        except BaseException as exc:
            self._connections.discard(conn)
            if isinstance(exc, Exception):
                raise _as_sqlalchemy(exc, sql, args) from exc
            raise
        self._connections.give_back(conn)
        return list(rows)

    @staticmethod
    async def _locked(conn: Any, guilds: Sequence[int], sql: str, args: list[Any]) -> Any:
        import asyncpg

        ids = ", ".join(str(int(guild)) for guild in sorted(guilds))  # integers: no quoting
        try:
            await conn.execute(
                f"BEGIN; SELECT 1 FROM guild_accounts WHERE guild_id IN ({ids}) "
                "ORDER BY guild_id FOR NO KEY UPDATE"
            )
            rows = await conn.fetch(sql, *args)
        except asyncpg.PostgresError:  # the transaction is aborted: end it, keep the session
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return rows

    def _compile(self, statement: Executable) -> tuple[str, tuple[str, ...]]:
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1], known[2]
        compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        # Kept with the statement itself, so that its id cannot be reused by another.
        self._compiled[id(statement)] = (statement, compiled.string, names)
        return compiled.string, names

    async def close(self) -> None:
        await self._connections.close()


def _as_sqlalchemy(exc: Exception, sql: str, args: list[Any]) -> Exception:
    """asyncpg's error as the SQLAlchemy error the same statement raises through the engine."""
    import asyncpg

    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, args, exc)
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return DBAPIError(sql, args, exc)
    return exc  # a connection that could not be made: OSError, TimeoutError, as the engine's
