"""The spending gate's hold and the settle as they run on PostgreSQL (one statement each, with the
old path behind it) and on SQLite: the same amounts, replays moving nothing, the gate's rules."""

from __future__ import annotations

import asyncio

import pytest

from bot.db import Cooldown, Database
from bot.errors import InsufficientCredit, OnCooldown
from bot.ledger import Ledger
from bot.spending import Spending, SpendRequest

GUILD = 1_000_000_000_000_000_014


def request(key: str, amount: int = 10, cooldown: str = "gpt") -> SpendRequest:
    return SpendRequest(GUILD, 7, amount, key=key, command="gpt:x", cooldown=cooldown)


async def test_gated_holds_move_exact_amounts_and_replays_nothing(database: Database) -> None:
    ledger = Ledger(database, starting_balance=100)
    spending = Spending(database, ledger, moderation=None)  # type: ignore[arg-type]
    first = await spending.hold(request("a"))  # opens the account: the old path
    second = await spending.hold(request("b"))  # the account is known: one statement on PG
    assert await ledger.balance(GUILD) == 80
    # Replays, sequential and concurrent, return the first hold and move nothing.
    again = await asyncio.gather(*(spending.hold(request("b")) for _ in range(5)))
    assert {h.id for h in again} == {second.id}
    assert await ledger.balance(GUILD) == 80
    settled = await ledger.settle(second, 3)
    assert (settled.status, settled.actual) == ("settled", 3)
    assert await ledger.balance(GUILD) == 87
    assert (await ledger.settle(second, 3)).actual == 3  # a replayed settle moves nothing
    assert (await ledger.refund(first)).status == "refunded"
    assert await ledger.balance(GUILD) == 97
    assert await ledger.check() == []


async def test_gated_hold_refuses_past_the_balance_with_the_balance(database: Database) -> None:
    ledger = Ledger(database, starting_balance=30)
    spending = Spending(database, ledger, moderation=None)  # type: ignore[arg-type]
    await spending.hold(request("a", 20))
    with pytest.raises(InsufficientCredit) as caught:
        await spending.hold(request("b", 20))
    assert (caught.value.balance, caught.value.needed) == (10, 20)
    assert await ledger.balance(GUILD) == 10
    assert await ledger.check() == []


async def test_a_cooldown_is_kept_when_the_account_is_known(database: Database) -> None:
    ledger = Ledger(database, starting_balance=100)
    spending = Spending(database, ledger, moderation=None)  # type: ignore[arg-type]
    await spending.hold(request("a", cooldown="imagine"))
    async with database.transaction() as conn:
        await conn.execute(
            Cooldown.__table__.insert().values(guild_id=GUILD, command="gpt", seconds=60)
        )
    await spending.hold(request("b"))  # sets the mark
    with pytest.raises(OnCooldown):
        await spending.hold(request("c"))
    assert await ledger.balance(GUILD) == 80
    assert await ledger.check() == []


async def test_the_running_limit_holds_under_concurrent_holds(database: Database) -> None:
    """limits.concurrent = 3: of thirty holds one member starts at once, while others move
    the same account, exactly three are taken; the rest are refused and move nothing."""
    from bot.config import LimitsConfig
    from bot.errors import TooManyRunning
    from bot.member_limits import MemberLimiter

    ledger = Ledger(database, starting_balance=1_000)
    limiter = MemberLimiter(LimitsConfig(requests_per_minute=0, concurrent=3))
    spending = Spending(database, ledger, moderation=None, limiter=limiter)  # type: ignore[arg-type]
    await spending.hold(SpendRequest(GUILD, 8, 1, key="open", command="gpt:x", cooldown="gpt"))
    others = [
        SpendRequest(GUILD, 100 + n, 5, key=f"other:{n}", command="gpt:x", cooldown="gpt")
        for n in range(10)
    ]
    outcomes = await asyncio.gather(
        *(spending.hold(request(f"m:{n}", 10)) for n in range(30)),
        *(spending.hold(other) for other in others),
        return_exceptions=True,
    )
    mine, theirs = outcomes[:30], outcomes[30:]
    taken = [h for h in mine if not isinstance(h, BaseException)]
    assert len(taken) == 3
    assert all(isinstance(h, TooManyRunning) for h in mine if h not in taken)
    assert not any(isinstance(h, BaseException) for h in theirs)
    assert await ledger.balance(GUILD) == 1_000 - 1 - 3 * 10 - 10 * 5
    await ledger.settle(taken[0], 4)  # one ends: one more may start
    await spending.hold(request("m:next", 10))
    with pytest.raises(TooManyRunning):
        await spending.hold(request("m:over", 10))
    assert await ledger.balance(GUILD) == 1_000 - 1 - 3 * 10 - 10 * 5 + 6 - 10
    assert await ledger.check() == []
