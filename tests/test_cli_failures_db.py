"""An admin's first hour, continued: the database, the operator verbs' arguments and doctor,
through the installed ``atelier`` executable with a clean environment (helpers in
``tests/test_cli_failures.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bot.migrations import head
from bot.sandbox.upstream import UpstreamSandbox
from tests.conftest import POSTGRES_URL
from tests.test_cli_failures import atelier, clean_env, closed_port, config_file, silent_endpoint

# -- item 2: the database -------------------------------------------------------------------


def _postgres(database: str | None = None, user: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    return url.set(
        database=database or url.database, username=user or url.username
    ).render_as_string(hide_password=False)


async def test_database_failures_name_database_url(tmp_path: Path) -> None:
    shim = tmp_path / "no-asyncpg"
    shim.mkdir()
    # As if the [postgres] extra were not installed: importing asyncpg fails.
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['asyncpg'] = None\n")
    missing = f"sqlite+aiosqlite:///{tmp_path / 'nope' / 'a.db'}"
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database\n")
    cases: list[tuple[Sequence[str], str, dict[str, str], int, tuple[str, ...]]] = [
        (["run"], missing, {}, 2, ("database.url: the folder", "does not exist")),
        (["credit", "balance"], missing, {}, 2, ("database.url: the folder",)),
        (["ledger", "check"], missing, {}, 2, ("database.url: the folder",)),
        (["db", "current"], missing, {}, 2, ("database.url: the folder",)),
        (["run"], "sqlite+aiosqlite:////sys/atelier.db", {}, 2, ("/sys", "not writable")),
        (["ledger", "check"], f"sqlite+aiosqlite:///{garbage}", {}, 2,
         (f"database.url: SQLite cannot use {garbage}: file is not a database",)),
        (["run"], f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test", {}, 4,
         ("cannot reach the database", "connection refused", "database.url")),
        (["doctor", "--timeout", "5"], f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/t",
         {}, 4, ("database  FAIL  cannot reach the database", "connection refused")),
        (["ledger", "check"], "postgresql+asyncpg://u@atelier-no-such-host.invalid/db", {}, 4,
         ("unknown host",)),
        (["run"], _postgres(), {"PYTHONPATH": str(shim)}, 6,
         ('pip install "atelier[postgres]"', 'pip install ".[postgres]"')),
        (["doctor", "--timeout", "5"], _postgres(), {"PYTHONPATH": str(shim)}, 6,
         ('pip install "atelier[postgres]"',)),
    ]  # fmt: skip
    if await _postgres_answers():
        cases += [
            (["run"], _postgres(database="atelier_no_such_db"), {}, 2,
             ("database 'atelier_no_such_db' does not exist", "createdb")),
            (["credit", "balance"], _postgres(user="atelier_no_such_role"), {}, 2,
             ("refused the login of 'atelier_no_such_role'", "database.url")),
        ]  # fmt: skip
    configs = [
        config_file(tmp_path / f"{i}.toml", {}, url) for i, (_, url, _, _, _) in enumerate(cases)
    ]
    results = await asyncio.gather(*(
        atelier(*args, "--config", str(config), cwd=tmp_path, env=clean_env(tmp_path, **extra))
        for (args, _, extra, _, _), config in zip(cases, configs, strict=True)
    ))  # fmt: skip
    for (_, _, _, code, named), result in zip(cases, results, strict=True):
        result.assert_clean(code, *named)
    assert not (tmp_path / "nope").exists()


async def _postgres_answers() -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(url.host or "127.0.0.1", url.port or 5432), 2
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def test_bad_revision_and_missing_export_folder(tmp_path: Path) -> None:
    config = config_file(tmp_path / "c.toml", {}, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    revision, export = await asyncio.gather(
        atelier("db", "upgrade", "zzzz", "--config", str(config), cwd=tmp_path),
        atelier("credit", "export", "1", "--csv", str(tmp_path / "no" / "x.csv"),
                "--config", str(config), cwd=tmp_path),
    )  # fmt: skip
    revision.assert_clean(2, "revision 'zzzz' is not one this build knows", "atelier db upgrade")
    export.assert_clean(2, f"--csv: the folder {tmp_path / 'no'} does not exist")


# -- item 3 and 6: doctor ---------------------------------------------------------------------


async def test_doctor_checks_each_part_bounded_with_progress(tmp_path: Path) -> None:
    here = tmp_path / "conf"
    elsewhere = tmp_path / "cwd"
    here.mkdir()
    elsewhere.mkdir()
    async with silent_endpoint() as port, UpstreamSandbox() as upstream:
        config = here / "config.toml"
        config.write_text(
            f'[discord]\ntoken = "t0ken-for-tests"\napi_base = "http://127.0.0.1:{port}/api/v10"\n'
            f'tokn = "x"\n[upstream]\napi_key = "{upstream.api_key}"\n'
            f'base_url = "{upstream.base_url}"\n[database]\nurl = "sqlite+aiosqlite:///bot.db"\n'
        )
        typo = await atelier("doctor", "--config", str(config), "--timeout", "1.5", cwd=elsewhere)
        config.write_text(config.read_text().replace('tokn = "x"\n', ""))
        result = await atelier("doctor", "--config", str(config), "--timeout", "1.5", cwd=elsewhere)
    typo.assert_clean(2, "discord.tokn: unknown key; did you mean 'token'?")
    result.assert_clean(4, "no answer")
    lines = [line for line in result.out.splitlines() if not line.startswith(" ")]
    assert [line.split()[:2] for line in lines] == [
        ["config", "ok"], ["database", "ok"], ["discord", "FAIL"], ["upstream", "ok"],
        ["gateway", "ok"],
    ], result.out  # fmt: skip
    # The relative path is the config folder's, shown absolute; nothing was created.
    assert f"sqlite {here / 'bot.db'} (no file yet" in result.out
    assert not (here / "bot.db").exists() and not (elsewhere / "bot.db").exists()
    assert "still checking discord" in result.err
    assert all(line.startswith("doctor: still checking") for line in result.err.splitlines())

    # An existing database is read as it is: no -wal or -shm file appears beside it.
    made = await atelier("db", "upgrade", "--config", str(config), cwd=elsewhere)
    made.assert_clean(0)
    before = sorted(here.iterdir())
    again = await atelier("doctor", "--config", str(config), "--timeout", "1.5", cwd=elsewhere)
    assert f"sqlite {here / 'bot.db'}, schema {head()} (current)" in again.out, again.text
    assert sorted(here.iterdir()) == before
