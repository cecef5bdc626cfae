"""1,000 random concurrent credit operations, then the operator's ledger check finds nothing.

The operations are planned first (kind, guild, member, amount, key) and then all run at once.
A settle or refund names a hold planned before it and waits only for that hold to be taken, so
every kind really runs, interleaved with everything else; replays re-send an earlier hold or
grant with its key, as a retried interaction would.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import case, func, select

from bot.__main__ import main
from bot.db import Database, HoldRow, LedgerEntry, table
from bot.errors import AtelierError
from bot.ledger import Ledger
from bot.migrations import upgrade
from bot.policies import Policies
from bot.spending import Spending, SpendRequest
from tests.helpers import insert_without_account, throwaway_postgres

GUILDS = [1_200_000_000_000_000_000 + n for n in range(10)]
MEMBERS = list(range(1, 51))
STARTING_BALANCE = 100
# Shares of the plan; settles and refunds need a hold planned before them.
WEIGHTS = {"hold": 40, "settle": 20, "refund": 14, "grant": 14, "hold_replay": 6, "grant_replay": 6}
HOLDS = table(HoldRow)
LEDGER = table(LedgerEntry)


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str
    guild: int = 0
    member: int = 0
    amount: int = 0
    key: str = ""
    target: int = -1  # the planned hold a settle, refund or hold replay is about


def plan(operations: int, rng: random.Random) -> list[Planned]:
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    steps: list[Planned] = []
    holds: list[int] = []  # indexes of planned original holds
    grants: list[Planned] = []
    for n in range(operations):
        kind = rng.choices(kinds, weights)[0]
        if kind in ("settle", "refund", "hold_replay") and holds:
            target = rng.choice(holds)
            amount = rng.randint(0, 60) if kind == "settle" else 0
            steps.append(Planned(kind, amount=amount, target=target))
        elif kind == "grant_replay" and grants:
            steps.append(replace(rng.choice(grants), kind=kind))  # same guild, amount and key
        elif kind.startswith("grant"):
            grant = Planned("grant", rng.choice(GUILDS), 0, rng.randint(-100, 200), f"g{n}")
            grants.append(grant)
            steps.append(grant)
        else:
            holds.append(len(steps))
            guild, member = rng.choice(GUILDS), rng.choice(MEMBERS)
            steps.append(Planned("hold", guild, member, rng.randint(0, 40), f"op{n}"))
    return steps


async def chaos(db: Database, operations: int = 1000, seed: int = 7) -> tuple[Ledger, Counter[str]]:
    """Run the plan concurrently; returns the ledger and how often each kind moved credit."""
    rng = random.Random(seed)
    steps = plan(operations, rng)
    ledger = Ledger(db, starting_balance=STARTING_BALANCE)
    spending = Spending(db, ledger, moderation=None)  # type: ignore[arg-type]
    policies = Policies(db)
    for guild in GUILDS[:2]:
        for member in MEMBERS[:25]:
            await policies.set_limit(guild, "member", member, 30)
    loop = asyncio.get_running_loop()
    taken: dict[int, asyncio.Future[int | None]] = {
        i: loop.create_future() for i, s in enumerate(steps) if s.kind == "hold"
    }
    ran: Counter[str] = Counter()

    def request(step: Planned) -> SpendRequest:
        return SpendRequest(step.guild, step.member, step.amount, key=step.key,
                            command="gpt:x", cooldown="gpt")  # fmt: skip

    async def one(index: int, step: Planned) -> None:
        try:
            if step.kind == "hold":
                try:
                    taken[index].set_result((await spending.hold(request(step))).id)
                except AtelierError:
                    taken[index].set_result(None)
                    raise
            elif step.kind in ("grant", "grant_replay"):
                await ledger.grant(step.guild, step.amount, key=step.key)
            else:
                hold_id = await taken[step.target]  # waits for that one hold only
                if hold_id is None:
                    return  # its hold was refused: nothing to settle, refund or replay
                if step.kind == "hold_replay":
                    assert (await spending.hold(request(steps[step.target]))).id == hold_id
                elif step.kind == "settle":
                    await ledger.settle(hold_id, step.amount)
                else:
                    await ledger.refund(hold_id)
        except AtelierError as refusal:
            # Insufficient credit, daily caps and too large a negative grant are expected.
            ran[type(refusal).__name__] += 1
            return
        ran[step.kind] += 1

    await asyncio.gather(*(one(i, s) for i, s in enumerate(steps)))
    return ledger, ran


async def expected_balances(db: Database) -> dict[int, int]:
    """Each guild's balance as the holds and grants say it must be, independent of the balance
    column and of the hold/release/refund rows: a double settle or refund would show here."""
    net = case(
        (HOLDS.c.status == "open", -HOLDS.c.amount),
        (HOLDS.c.status == "settled", -HOLDS.c.actual),
        else_=0,
    )
    async with db.read() as conn:
        credited = dict(
            (
                await conn.execute(
                    select(LEDGER.c.guild_id, func.sum(LEDGER.c.amount))
                    .where(LEDGER.c.kind.in_(("opening", "grant")))
                    .group_by(LEDGER.c.guild_id)
                )
            ).all()
        )
        spent = dict(
            (
                await conn.execute(
                    select(HOLDS.c.guild_id, func.sum(net)).group_by(HOLDS.c.guild_id)
                )
            ).all()
        )
    return {int(g): int(credited[g]) + int(spent.get(g) or 0) for g in credited}


async def assert_books_balance(db: Database, ledger: Ledger, ran: Counter[str]) -> None:
    for kind, at_least in (("hold", 200), ("settle", 80), ("refund", 50), ("grant", 80),
                           ("hold_replay", 20), ("grant_replay", 20), ("InsufficientCredit", 20),
                           ("DailyCapReached", 5)):  # fmt: skip
        assert ran[kind] >= at_least, (kind, ran)
    assert await ledger.check() == []
    expected = await expected_balances(db)
    assert set(expected) == set(GUILDS)
    for guild in GUILDS:
        balance = await ledger.balance(guild)
        assert balance >= 0
        assert balance == expected[guild], guild


async def test_chaos_keeps_every_balance_equal_to_its_ledger(database: Database) -> None:
    ledger, ran = await chaos(database)
    await assert_books_balance(database, ledger, ran)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL the operator CLI can open on its own (a test schema's search_path is not one)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'chaos.db'}"
        return
    async with throwaway_postgres() as url:
        yield url


async def test_cli_ledger_check_after_chaos(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(database_url)
    await upgrade(db)
    await chaos(db)
    await db.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')

    assert await asyncio.to_thread(main, ["ledger", "check", "--config", str(config)]) == 0
    assert "every balance equals" in capsys.readouterr().out

    # Tamper with one balance behind the ledger's back: the check must notice and fail.
    db = Database(database_url)
    async with db.transaction() as conn:
        await conn.exec_driver_sql(
            f"UPDATE guild_accounts SET balance = balance + 7 WHERE guild_id = {GUILDS[3]}"
        )
    await db.close()
    assert await asyncio.to_thread(main, ["ledger", "check", "--config", str(config)]) == 1
    report = capsys.readouterr().out
    assert f"guild {GUILDS[3]}" in report and "(difference +7)" in report

    # Ledger rows of a guild that has no account at all are a difference too.
    db = Database(database_url)
    await insert_without_account(db, 42, 5)
    await db.close()
    assert await asyncio.to_thread(main, ["ledger", "check", "--config", str(config)]) == 1
    report = capsys.readouterr().out
    assert "guild 42: no account row but ledger rows summing to 5" in report
    assert f"guild {GUILDS[3]}" in report


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
