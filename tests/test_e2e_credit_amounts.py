"""/credit grant and /credit set with amounts outside their ranges, through the sandbox: Discord
itself refuses a value outside an option's min/max (the sandbox raises, as the client would not
send it), the bot refuses a grant past the largest balance with a private message in the
member's language, and ``ledger check`` passes afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.amounts import MAX_BALANCE
from bot.sandbox.world import SandboxWorld
from tests.helpers import private_reply, run_slash

INT64 = 2**63 - 1
CONFIG: dict[str, Any] = {"limits": {"requests_per_minute": 0, "concurrent": 0}}


@pytest.fixture
async def world() -> Any:
    async with SandboxWorld(config=CONFIG) as world:
        yield world


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(["credit grant", "credit set"]),
    amount=st.one_of(
        st.sampled_from([INT64, 10**30, -(10**30), -5, -1, 0, MAX_BALANCE + 1]), st.integers()
    ),
)
@example(command="credit grant", amount=INT64)
@example(command="credit set", amount=10**30)
@example(command="credit grant", amount=0)
@example(command="credit grant", amount=-5)
async def test_out_of_range_amounts_never_reach_the_bot(
    world: SandboxWorld, command: str, amount: int
) -> None:
    low = 0 if command == "credit set" else 1
    assume(not low <= amount <= MAX_BALANCE)  # in range: the test below and test_e2e_credit_admin
    before = await balance(world)
    with pytest.raises(ValueError, match=rf"option 'amount' takes {low}\.\.{MAX_BALANCE}"):
        await run_slash(world, world.owner_id, command, {"amount": amount})
    assert await balance(world) == before
    assert await world.services.ledger.check() == []


@pytest.mark.parametrize(
    ("locale", "refusal"),
    [
        ("en-US", "past **1,000,000,000,000,000** credits, the most a server can hold"),
        ("zh-CN", "这会使余额超过 **1,000,000,000,000,000** 积分"),
    ],
)
async def test_a_grant_past_the_largest_balance_is_refused_privately(
    world: SandboxWorld, locale: str, refusal: str
) -> None:
    handle = await run_slash(world, world.owner_id, "credit set", {"amount": MAX_BALANCE - 10})
    assert "**999,999,999,999,990**" in (await private_reply(world, handle)).content

    handle = await run_slash(
        world, world.owner_id, "credit grant", {"amount": MAX_BALANCE}, locale=locale
    )
    reply = await private_reply(world, handle)
    assert reply.ephemeral and refusal in reply.content, reply.content
    assert await balance(world) == MAX_BALANCE - 10  # nothing moved

    handle = await run_slash(world, world.owner_id, "credit grant", {"amount": 10})
    assert "Balance: **1,000,000,000,000,000**" in (await private_reply(world, handle)).content
    assert await balance(world) == MAX_BALANCE
    assert await world.services.ledger.check() == []
