"""Ledger rules on a real database: atomic holds, idempotent keys, settle and refund."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.db import Database, LedgerEntry, table
from bot.errors import InsufficientCredit
from bot.ledger import Ledger

GUILD = 1_000_000_000_000_000_001


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
