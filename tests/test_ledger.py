"""Ledger rules on a real database: atomic holds, idempotent keys, settle and refund."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from bot.db import Database, LedgerEntry, table
from bot.errors import InsufficientCredit
from bot.ledger import Discrepancy, Ledger
from tests.helpers import insert_without_account

GUILD = 1_000_000_000_000_000_001
LEDGER = table(LedgerEntry)


async def ledger_rows(db: Database, guild_id: int) -> int:
    rows = table(LedgerEntry)
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).where(rows.c.guild_id == guild_id)))


async def test_new_guild_gets_starting_balance_once(database: Database) -> None:
    ledger = Ledger(database, starting_balance=500)
    results = await asyncio.gather(*(ledger.balance(GUILD) for _ in range(10)))
    assert set(results) == {500}
    assert await ledger_rows(database, GUILD) == 1
    assert await ledger.check() == []


async def test_concurrent_holds_never_overdraw(database: Database) -> None:
    ledger = Ledger(database, starting_balance=1000)

    async def attempt(i: int) -> bool:
        try:
            await ledger.hold(GUILD, i, 7, key=f"h{i}", command="gpt")
        except InsufficientCredit:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i) for i in range(200)))
    assert sum(outcomes) == 1000 // 7
    assert await ledger.balance(GUILD) == 1000 - 7 * (1000 // 7)
    assert await ledger.check() == []


async def test_replayed_keys_move_nothing(database: Database) -> None:
    ledger = Ledger(database, starting_balance=100)
    holds = await asyncio.gather(
        *(ledger.hold(GUILD, 1, 30, key="interaction-1", command="gpt") for _ in range(5))
    )
    assert len({h.id for h in holds}) == 1
    assert await ledger.balance(GUILD) == 70

    await asyncio.gather(*(ledger.settle(holds[0], 10) for _ in range(5)))
    assert await ledger.balance(GUILD) == 90
    await ledger.refund(holds[0])  # already settled: a late refund must not pay back again
    assert await ledger.balance(GUILD) == 90

    for _ in range(3):
        await ledger.grant(GUILD, 50, key="topup-7", user_id=9, note="monthly")
    assert await ledger.balance(GUILD) == 140
    assert await ledger.check() == []


async def test_settle_returns_unused_part_and_caps_at_hold(database: Database) -> None:
    ledger = Ledger(database, starting_balance=100)
    hold = await ledger.hold(GUILD, 1, 40, key="a", command="gpt")
    settled = await ledger.settle(hold, 15)
    assert (settled.status, settled.actual) == ("settled", 15)
    assert await ledger.balance(GUILD) == 85

    over = await ledger.hold(GUILD, 1, 20, key="b", command="gpt")
    assert (await ledger.settle(over, 999)).actual == 20
    assert await ledger.balance(GUILD) == 65

    refunded = await ledger.refund(await ledger.hold(GUILD, 1, 25, key="c", command="mj_imagine"))
    assert (refunded.status, refunded.actual) == ("refunded", 0)
    assert await ledger.balance(GUILD) == 65
    assert await ledger.open_holds() == []
    assert await ledger.check() == []


async def test_insufficient_credit_reports_balance_and_price(database: Database) -> None:
    ledger = Ledger(database, starting_balance=10)
    with pytest.raises(InsufficientCredit) as caught:
        await ledger.hold(GUILD, 1, 11, key="x", command="gpt")
    assert (caught.value.balance, caught.value.needed) == (10, 11)
    assert await ledger.balance(GUILD) == 10
    with pytest.raises(InsufficientCredit):
        await ledger.grant(GUILD, -11, key="take")
    await ledger.grant(GUILD, -10, key="take-all")
    assert await ledger.balance(GUILD) == 0
    assert await ledger.check() == []


async def test_set_balance_is_one_step_under_concurrent_holds(database: Database) -> None:
    """/credit set reads the balance and writes the difference with the account locked: a hold
    landing in between cannot make the balance miss the amount set."""
    ledger = Ledger(database, starting_balance=1000)
    await ledger.balance(GUILD)

    async def attempt(i: int) -> None:
        with contextlib.suppress(InsufficientCredit):
            await ledger.hold(GUILD, i, 7, key=f"h{i}", command="gpt")

    await asyncio.gather(
        *(attempt(i) for i in range(30)),
        ledger.set_balance(GUILD, 500, key="set-1", user_id=9, note="set by the operator"),
        *(attempt(i) for i in range(30, 60)),
    )
    rows = LEDGER.c
    async with database.read() as conn:
        lines = (
            await conn.execute(
                select(rows.key, rows.amount, rows.kind).where(rows.guild_id == GUILD)
                .order_by(rows.id)
            )
        ).all()  # fmt: skip
    running, at_set = 0, None
    for line in lines:
        running += line.amount
        if line.key == "grant:set-1":
            at_set = running
            assert line.kind == "grant"
    assert at_set == 500  # right after the set, whatever the holds around it did
    holds_after = sum(1 for line in lines[[ln.key for ln in lines].index("grant:set-1") :]
                      if line.kind == "hold")  # fmt: skip
    assert await ledger.balance(GUILD) == 500 - 7 * holds_after
    before = len(lines)
    assert await ledger.set_balance(GUILD, 10, key="set-1") == 500 - 7 * holds_after  # replay
    assert await ledger_rows(database, GUILD) == before
    assert await ledger.check() == []


async def test_check_reports_ledger_rows_of_a_guild_without_an_account(database: Database) -> None:
    ledger = Ledger(database, starting_balance=100)
    await ledger.grant(GUILD, 5, key="ok")
    stray = GUILD + 1
    await insert_without_account(database, stray, 42)
    assert await ledger.check() == [Discrepancy(stray, None, 42)]


async def test_refund_settled_gives_back_what_was_charged_once(database: Database) -> None:
    ledger = Ledger(database, starting_balance=1000)
    hold = await ledger.hold(GUILD, 7, 100, key="job:v", command="video:sora-2")
    await ledger.settle(hold, 60)  # 40 released, 60 charged
    again = await asyncio.gather(*(ledger.refund_settled(hold) for _ in range(3)))
    assert {(h.status, h.actual) for h in again} == {("refunded", 0)}
    assert await ledger.balance(GUILD) == 1000
    open_hold = await ledger.hold(GUILD, 7, 50, key="job:w", command="video:sora-2")
    assert (await ledger.refund_settled(open_hold)).status == "open"  # only settled holds
    assert await ledger.balance(GUILD) == 950
    assert await ledger.check() == []
