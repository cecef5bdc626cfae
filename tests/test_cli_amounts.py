"""The operator CLI's credit verbs with amounts and guild ids outside their ranges, through the
installed ``atelier`` executable in a clean environment: each row's exit code and message, no
traceback, nothing moved, and ``atelier ledger check`` clean afterwards (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.amounts import MAX_BALANCE
from bot.db import Database
from bot.ledger import Ledger
from tests.helpers import throwaway_postgres

ATELIER = Path(sys.executable).with_name("atelier")
GUILD = "1300000000000000001"
INT64 = str(2**63 - 1)
HUGE = str(10**30)
RANGE = "amount must be from 1 to 1,000,000,000,000,000"
NOT_A_GUILD = (
    "guild must be a Discord server id, a whole number from 1 to 9,223,372,036,854,775,807"
)

# (arguments, exit code, text the output must contain, the guild's balance afterwards)
Row = tuple[list[str], int, str, int | None]
ROWS: list[Row] = [
    (["credit", "balance", GUILD], 1, f"guild {GUILD} has no account", None),
    (["credit", "grant", GUILD, "250"], 0, "granted 250; balance 1,250", 1250),
    (["credit", "grant", GUILD, "-50"], 2, "a grant only adds: lower a balance with", 1250),
    (["credit", "grant", GUILD, "0"], 2, f"{RANGE} (got 0)", 1250),
    (["credit", "grant", GUILD, INT64], 2, f"{RANGE} (got {INT64})", 1250),
    (["credit", "grant", GUILD, HUGE], 2, f"{RANGE} (got {HUGE})", 1250),
    (["credit", "debit", GUILD, HUGE], 2, f"{RANGE} (got {HUGE})", 1250),
    (["credit", "set", GUILD, "-1"], 2, "amount must be from 0 to 1,000,000,000,000,000", 1250),
    (["credit", "set", GUILD, INT64], 2, f"(got {INT64})", 1250),
    (["credit", "grant", "0", "100"], 2, f"{NOT_A_GUILD} (got 0)", 1250),
    (["credit", "grant", "-5", "100"], 2, f"{NOT_A_GUILD} (got -5)", 1250),
    (["credit", "grant", HUGE, "100"], 2, f"{NOT_A_GUILD} (got {HUGE})", 1250),
    (["credit", "balance", "999"], 1, "guild 999 has no account", 1250),
    (["credit", "balance", "-5"], 2, NOT_A_GUILD, 1250),
    (["credit", "grant", GUILD, "100", "--key", "k1"], 0, "granted 100; balance 1,350", 1350),
    (["credit", "grant", GUILD, "100", "--key", "k1"], 0, "'k1' was used before; nothing", 1350),
    (["credit", "debit", GUILD, "2000"], 1, "has 1,350 credits, fewer than 2,000; nothing", 1350),
    (["credit", "debit", GUILD, "350"], 0, "debited 350; balance 1,000", 1000),
    (["credit", "set", GUILD, str(MAX_BALANCE)], 0, "set to 1,000,000,000,000,000", MAX_BALANCE),
    (["credit", "grant", GUILD, "1"], 2, "would pass 1,000,000,000,000,000 credits", MAX_BALANCE),
    (["credit", "set", GUILD, "0"], 0, "balance set to 0 (-1,000,000,000,000,000)", 0),
]  # fmt: skip


def atelier(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(config.parent), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(ATELIER), *args, "--config", str(config)],
        capture_output=True, text=True, env=env, cwd=config.parent, timeout=120,
    )  # fmt: skip


async def run_rows(config: Path, url: str, rows: list[Row]) -> None:
    db = Database(url)
    ledger = Ledger(db, starting_balance=1000)
    try:
        for args, code, text, balance in rows:
            done = await asyncio.to_thread(atelier, config, *args)
            output = done.stdout + done.stderr
            assert done.returncode == code, (args, output)
            assert text in output, (args, output)
            assert "Traceback" not in output, (args, output)
            if code:  # a refusal is one line, on stderr
                assert done.stderr.count("\n") == 1 and not done.stdout, (args, output)
            # Read beside the CLI, not through it: each run of the executable takes seconds.
            assert await ledger.find_balance(int(GUILD)) == balance, args
        assert await ledger.find_balance(999) is None  # asking about it created nothing
    finally:
        await db.close()
    check = await asyncio.to_thread(atelier, config, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every balance equals the sum of its ledger rows" in check.stdout


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[credit]\nstarting_balance = 1000\n')
    return config


@pytest.mark.skipif(not ATELIER.exists(), reason=f"no installed atelier at {ATELIER}")
async def test_cli_amount_rows_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'atelier.db'}"
    await run_rows(write_config(tmp_path, url), url, ROWS)


@pytest.mark.skipif(not ATELIER.exists(), reason=f"no installed atelier at {ATELIER}")
async def test_cli_amount_rows_on_postgres(tmp_path: Path) -> None:
    """The rows that reach the database (the others are refused before it is opened)."""
    rows = [row for row in ROWS if row[1] != 2 or "would pass" in row[2]]
    async with throwaway_postgres("atelier_cli_amounts") as url:
        await run_rows(write_config(tmp_path, url), url, rows)
