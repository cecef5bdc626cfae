"""PostgreSQL's one-statement movements, straight through asyncpg.

A hold or a settle on PostgreSQL is one statement (bot/ledger_pg.py). Through SQLAlchemy's async
engine that statement cost 0.6 ms of this process's CPU: a greenlet switch for the pool checkout,
another for the execution, its events and its result metadata, against about 0.1 ms for asyncpg
itself. Here the statements go through asyncpg's own pool, compiled once by SQLAlchemy's asyncpg
dialect (the SQL, casts and parameter order SQLAlchemy itself would send), with the connection
arguments SQLAlchemy would use. Each runs outside any transaction block, so it is its own
transaction. Errors are raised as SQLAlchemy's, as everywhere else in the project.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import Executable

# SQLAlchemy's own names for asyncpg options, and what asyncpg calls them.
_RENAMED = {"prepared_statement_cache_size": "statement_cache_size"}
_SQLALCHEMY_ONLY = ("prepared_statement_name_func", "async_creator_fn")


class PgStatements:
    """At most ``size`` statements in flight, on a pool of as many connections, opened lazily."""

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
        self._options = options
        self._dialect = dialect
        self._size = size
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._compiled: dict[int, tuple[Executable, str, tuple[str, ...]]] = {}

    async def rows(
        self, statement: Executable, params: Mapping[str, Any], *, lock_guild: int | None = None
    ) -> list[Sequence[Any]]:
        """The statement's rows. With ``lock_guild``, the statement runs in a transaction that
        first takes that guild's account row lock (FOR NO KEY UPDATE: see
        ``Ledger._balance_now``); BEGIN and the lock go as one simple query, one round trip."""
        sql, names = self._compile(statement)
        args = [params[name] for name in names]
        pool = self._pool or await self._open()
        try:
            async with pool.acquire() as conn:
                if lock_guild is None:
                    return list(await conn.fetch(sql, *args))
                await conn.execute(
                    "BEGIN; SELECT 1 FROM guild_accounts "
                    f"WHERE guild_id = {int(lock_guild)} FOR NO KEY UPDATE"
                )
                try:
                    rows = list(await conn.fetch(sql, *args))
                    await conn.execute("COMMIT")
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                return rows
        except Exception as exc:
            raise _as_sqlalchemy(exc, sql, args) from exc

    def _compile(self, statement: Executable) -> tuple[str, tuple[str, ...]]:
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1], known[2]
        compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        # Kept with the statement itself, so that its id cannot be reused by another.
        self._compiled[id(statement)] = (statement, compiled.string, names)
        return compiled.string, names

    async def _open(self) -> Any:
        import asyncpg  # the [postgres] extra: present whenever a PostgreSQL URL got this far

        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=0, max_size=self._size, reset=_unchanged, **self._options
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _unchanged(_conn: Any) -> None:
    """No reset when a connection goes back to the pool. asyncpg's own (RESET ALL, UNLISTEN,
    advisory unlocks) is a round trip per statement, and these statements change nothing in
    the session: each ends committed or rolled back (an error in one breaks no state;
    a connection that broke is closed by the pool)."""


def _as_sqlalchemy(exc: Exception, sql: str, args: list[Any]) -> Exception:
    """asyncpg's error as the SQLAlchemy error the same statement raises through the engine."""
    import asyncpg

    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, args, exc)
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return DBAPIError(sql, args, exc)
    return exc  # a connection that could not be made: OSError, TimeoutError, as the engine's
