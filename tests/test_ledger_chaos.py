"""1,000 random concurrent credit operations, then the operator's ledger check finds nothing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.db import Database
from bot.errors import AtelierError
from bot.ledger import Ledger
from bot.migrations import upgrade
from bot.policies import Policies
from bot.spending import Spending, SpendRequest

GUILDS = [1_200_000_000_000_000_000 + n for n in range(10)]
MEMBERS = list(range(1, 51))


async def chaos(db: Database, operations: int = 1000, seed: int = 7) -> Ledger:
    rng = random.Random(seed)
    ledger = Ledger(db, starting_balance=300)
    spending = Spending(db, ledger, moderation=None)  # type: ignore[arg-type]
    policies = Policies(db)
    for member in MEMBERS[:10]:
        await policies.set_limit(GUILDS[0], "member", member, 50)
    holds: list[int] = []
    grants = 0

    async def one(n: int) -> None:
        nonlocal grants
        choice = rng.random()
        guild = rng.choice(GUILDS)
        try:
            if choice < 0.5 or not holds:
                request = SpendRequest(
                    guild,
                    rng.choice(MEMBERS),
                    rng.randint(0, 40),
                    key=f"op{n % 900}",
                    command="gpt:x",
                    cooldown="gpt",
                )
                holds.append((await spending.hold(request)).id)
            elif choice < 0.75:
                await ledger.settle(rng.choice(holds), rng.randint(0, 60))
            elif choice < 0.9:
                await ledger.refund(rng.choice(holds))
            else:
                grants += 1
                await ledger.grant(guild, rng.randint(-100, 200), key=f"g{n % 50}")
        except AtelierError:
            pass  # insufficient credit and caps are expected outcomes

    await asyncio.gather(*(one(n) for n in range(operations)))
    return ledger


async def test_chaos_keeps_every_balance_equal_to_its_ledger(database: Database) -> None:
    ledger = await chaos(database)
    assert await ledger.check() == []
    for guild in GUILDS:
        assert await ledger.balance(guild) >= 0


async def test_cli_ledger_check_after_chaos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chaos.db'}"
    db = Database(url)
    await upgrade(db)
    await chaos(db)
    await db.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')

    assert await asyncio.to_thread(main, ["ledger", "check", "--config", str(config)]) == 0
    assert "every balance equals" in capsys.readouterr().out

    # Tamper with one balance behind the ledger's back: the check must notice and fail.
    db = Database(url)
    async with db.transaction() as conn:
        await conn.exec_driver_sql(
            f"UPDATE guild_accounts SET balance = balance + 7 WHERE guild_id = {GUILDS[3]}"
        )
    await db.close()
    assert await asyncio.to_thread(main, ["ledger", "check", "--config", str(config)]) == 1
    report = capsys.readouterr().out
    assert f"guild {GUILDS[3]}" in report and "(difference +7)" in report


async def test_cli_grant_balance_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[credit]\nstarting_balance = 100\n')
    args = ["--config", str(config)]
    assert (
        await asyncio.to_thread(main, ["credit", "grant", "42", "250", "--note", "top-up", *args])
        == 0
    )
    assert "balance 350" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["credit", "balance", "42", *args]) == 0
    assert capsys.readouterr().out.strip() == "42\t350"
    out = tmp_path / "ledger.csv"
    assert await asyncio.to_thread(main, ["credit", "export", "42", "--csv", str(out), *args]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("id,time,user_id,kind,amount")
    assert [r.split(",")[3:5] for r in rows[1:]] == [["opening", "100"], ["grant", "250"]]
    assert "top-up" in rows[2]
