"""Shared fixtures: a real database on SQLite and, where reachable, on PostgreSQL."""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

from bot.db import Database
from bot.migrations import upgrade
from bot.sandbox.world import POSTGRES_SWITCH

# No per-example deadline for property tests: a timing threshold belongs in a benchmark, and on a
# loaded 2-core machine one example of a parser took 277 ms against Hypothesis's default 200.
settings.register_profile("atelier", deadline=None)
settings.load_profile("atelier")

POSTGRES_URL = os.environ.get(
    "ATELIER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that an unreachable PostgreSQL fails the run instead of skipping quietly.
REQUIRE_POSTGRES = os.environ.get("ATELIER_REQUIRE_POSTGRES") == "1"


async def _postgres_database() -> Database:
    """A fresh schema per test keeps PostgreSQL tests independent of each other."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        await admin.close()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); "
            "set ATELIER_TEST_POSTGRES_URL to run these tests on PostgreSQL"
        )
    await admin.close()
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    db.test_schema = schema  # type: ignore[attr-defined]
    return db


async def _drop_schema(schema: str) -> None:
    admin = Database(POSTGRES_URL)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """A database with no tables at all, on each supported backend."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'atelier.db'}")
    else:
        db = await _postgres_database()
    try:
        yield db
    finally:
        await db.close()
        if request.param == "postgres":
            await _drop_schema(db.test_schema)  # type: ignore[attr-defined]


@pytest.fixture
async def database(empty_database: Database) -> Database:
    """An empty database with the schema made by the migrations, on each supported backend."""
    await upgrade(empty_database)
    return empty_database


def _starts_worlds(module: object) -> bool:
    """Whether a test module runs the bot in a sandbox world (directly, via the reliability
    support or via the demo): those are the tests whose database the switch below changes."""
    source = inspect.getsource(module)  # type: ignore[arg-type]
    return any(name in source for name in ("SandboxWorld", "reliability.support", "run_demo"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With every world on PostgreSQL (CI's second pass), only the tests that start worlds run
    # differently; the rest already ran, on both databases where they use one, in the first.
    if os.environ.get(POSTGRES_SWITCH) != "postgres":
        return
    worlds = {module: _starts_worlds(module) for module in {item.module for item in items}}  # type: ignore[attr-defined]
    kept = [item for item in items if worlds[item.module]]  # type: ignore[attr-defined]
    config.hook.pytest_deselected(items=[item for item in items if not worlds[item.module]])  # type: ignore[attr-defined]
    items[:] = kept
