"""Schema migrations with Alembic, run from code: at start and by ``atelier db upgrade``.

The environment ships inside the package and needs no alembic.ini. To add a revision after
changing a table in ``bot/db.py``, let Alembic draft it from a scratch database at head (from the
repository root, where pyproject.toml points the ``alembic`` command here):

    alembic -x url=sqlite+aiosqlite:///scratch.db upgrade head
    alembic -x url=sqlite+aiosqlite:///scratch.db revision --autogenerate --rev-id NNNN -m "what"

then read the draft and keep it portable (SQLite and PostgreSQL, data carried over):
``tests/test_migrations.py`` fails while the head differs from the models.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.db import Database
from bot.errors import SchemaError

# The schema as builds before migrations left it (they ran create_all on every start).
BASELINE = "0001"
UPGRADE_COMMAND = "atelier db upgrade"


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration built in code; ``connection`` is the one migrations run on."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The revision this build's models correspond to."""
    revision = _script().get_current_head()
    assert revision is not None
    return revision


def revisions() -> list[str]:
    """Every revision this build knows, oldest first."""
    return [r.revision for r in reversed(list(_script().walk_revisions()))]


async def current(db: Database) -> str | None:
    """The database's revision; None when it has none (new, or made before migrations)."""
    async with db.read() as conn:
        return await conn.run_sync(_current)


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction; safe to run from several processes.

    A database made before migrations (tables, no version) is first stamped at the baseline.
    Upgrades of one database queue on its write lock before Alembic runs, which matters within
    a process too: Alembic keeps the running migration's context in module globals.
    """
    async with db.transaction() as conn:
        await conn.run_sync(_upgrade, revision)


async def require_head(db: Database) -> None:
    """Raise SchemaError unless the database is at this build's head revision."""
    async with db.read() as conn:
        revision = await conn.run_sync(_current)
        legacy = revision is None and bool(await conn.run_sync(_baseline_tables_present))
    wanted = head()
    if revision == wanted:
        return
    _check_known(revision)
    found = f"at revision {revision}" if revision else "empty"
    if legacy:
        found = "from before migrations"
    raise SchemaError(
        f"the database schema is {found} but this build needs {wanted}; "
        f"run `{UPGRADE_COMMAND}` (or set database.auto_upgrade = true)"
    )


async def prepare(db: Database, *, auto_upgrade: bool) -> None:
    """At start: upgrade the schema, or only check it when upgrades are the operator's job."""
    if auto_upgrade:
        await upgrade(db)
    else:
        await require_head(db)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _baseline_tables() -> set[str]:
    baseline = _script().get_revision(BASELINE)
    assert baseline is not None
    return set(baseline.module.TABLES)


def _baseline_tables_present(connection: Connection) -> set[str]:
    return _baseline_tables() & set(inspect(connection).get_table_names())


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in {r.revision for r in _script().walk_revisions()}:
        raise SchemaError(
            f"the database schema is at revision {revision}, which this build does not know: "
            "a newer Atelier has upgraded it; run that version"
        )


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Processes starting together queue here; each later one finds the work done. The key is
        # per schema so that schemas side by side in one database (as in tests) do not queue.
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('atelier-migrations:' || current_schema()))"
        )
    config = alembic_config(connection)
    found = _current(connection)
    _check_known(found)
    present = _baseline_tables_present(connection) if found is None else set()
    if present:
        # Made before migrations: its tables are the baseline's, unless a build older still
        # left some out; guessing what else differs could lose data, so that stops here.
        missing = _baseline_tables() - present
        if missing:
            raise SchemaError(
                f"the database has Atelier tables but lacks {', '.join(sorted(missing))}, so "
                "it is older than the baseline schema and cannot be upgraded automatically"
            )
        command.stamp(config, BASELINE)
    command.upgrade(config, revision)
