"""Alembic environment: migrations run on a connection that `bot.migrations` hands in.

Run from the `alembic` command instead (for `alembic revision --autogenerate`), it opens its own
async engine on the URL given as ``-x url=…`` or in ``ATELIER_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from bot.db import Base, Database

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch operations copy the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_own_engine(url: str) -> None:
    db = Database(url)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(run_migrations)
    finally:
        await db.close()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("Atelier's migrations run against a database; --sql is not supported")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "ATELIER_DATABASE_URL"
    )
    if not url:
        raise SystemExit("name the database: alembic -x url=sqlite+aiosqlite:///atelier.db …")
    asyncio.run(run_on_own_engine(url))


main()
