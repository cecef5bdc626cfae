"""No number breaks the ledger: huge, negative and zero amounts through the ledger API and the
configuration, on both databases, and ``ledger check`` passes afterwards.

The CLI rows are in tests/test_cli_amounts.py, the /credit commands in
tests/test_e2e_credit_amounts.py.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.amounts import MAX_BALANCE, MAX_PRICE
from bot.config import parse_config
from bot.db import Database
from bot.errors import AmountOutOfRange, BalanceLimitReached, ConfigError, InsufficientCredit
from bot.ledger import Ledger
from bot.pricing import ChatPrice
from bot.spending import Spending, SpendRequest

INT64 = 2**63 - 1
EDGES = [INT64, INT64 + 1, 10**30, -INT64 - 1, -(10**30), -1, 0, 1, MAX_BALANCE, MAX_BALANCE + 1]
AMOUNTS = st.one_of(st.sampled_from(EDGES), st.integers(-(10**16), 10**16), st.integers())
VERBS = st.sampled_from(["grant", "set", "hold_settle", "hold_refund", "spend"])
OPERATIONS = st.lists(st.tuples(VERBS, AMOUNTS, AMOUNTS), min_size=1, max_size=8)
PROPS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GUILDS = itertools.count(1_400_000_000_000_000_000)
REFUSED = (AmountOutOfRange, BalanceLimitReached, InsufficientCredit)
OPENING = 1000


def expected(verb: str, balance: int, amount: int, actual: int) -> int | None:
    """The balance after the movement, or None when it must be refused."""
    if verb == "grant":
        ok = -MAX_BALANCE <= amount <= MAX_BALANCE and 0 <= balance + amount <= MAX_BALANCE
        return balance + amount if ok else None
    if verb == "set":
        return amount if 0 <= amount <= MAX_BALANCE else None
    if not 0 <= amount <= balance:
        return None
    if verb == "hold_refund":
        return balance
    return balance - min(max(0, actual), amount)


@PROPS
@given(operations=OPERATIONS)
@example(operations=[("grant", INT64, 0), ("grant", 10**30, 0), ("set", 10**30, 0)])
@example(operations=[("set", MAX_BALANCE, 0), ("hold_settle", MAX_BALANCE, 10**30)])
@example(operations=[("set", MAX_BALANCE, 0), ("hold_refund", 5, 0), ("grant", 1, 0)])
@example(operations=[("hold_settle", INT64, INT64), ("spend", 10**30, -(10**30))])
async def test_every_amount_moves_exactly_or_nothing(
    database: Database, operations: list[tuple[str, int, int]]
) -> None:
    ledger = Ledger(database, starting_balance=OPENING)
    spending = Spending(database, ledger, moderation=None)  # type: ignore[arg-type]
    guild = next(GUILDS)
    balance = await ledger.balance(guild)
    assert balance == OPENING
    for n, (verb, amount, actual) in enumerate(operations):
        want = expected(verb, balance, amount, actual)
        key = f"{guild}:{n}"
        try:
            if verb == "grant":
                await ledger.grant(guild, amount, key=key)
            elif verb == "set":
                await ledger.set_balance(guild, amount, key=key)
            elif verb == "spend":  # through the spending gate, as every paid command
                request = SpendRequest(guild, 1, amount, key=key, command="gpt:x", cooldown="gpt")
                await ledger.settle(await spending.hold(request), actual)
            else:
                hold = await ledger.hold(guild, 1, amount, key=key, command="gpt:x")
                if verb == "hold_refund":
                    await ledger.refund(hold)
                else:
                    await ledger.settle(hold, actual)
        except REFUSED:
            assert want is None, f"{verb} {amount} refused"
        else:
            assert want is not None, f"{verb} {amount} accepted"
            balance = want
        assert await ledger.balance(guild) == balance  # exactly what moved, or nothing
        assert 0 <= balance <= MAX_BALANCE
    assert await ledger.check() == []


async def test_check_sums_rows_whose_partial_sums_pass_64_bits(database: Database) -> None:
    """SQLite's sum() raises "integer overflow" when a partial sum passes 2**63 - 1, whatever
    the total. Rows that large cannot be made through the ledger any more; an old build (or a
    hand edit) could have left them."""
    ledger = Ledger(database, starting_balance=0)
    guild = next(GUILDS)
    await ledger.set_balance(guild, MAX_BALANCE, key="up")
    await ledger.set_balance(guild, 0, key="down")
    async with database.transaction() as conn:
        for n in range(3):
            await conn.exec_driver_sql(
                "INSERT INTO ledger (guild_id, kind, amount, key, created_at) VALUES "
                f"({guild}, 'grant', {INT64 - 1}, 'old{n}', '2024-01-01 00:00:00')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO ledger (guild_id, kind, amount, key, created_at) VALUES "
                f"({guild}, 'grant', {-(INT64 - 1)}, 'undo{n}', '2024-01-01 00:00:00')"
            )
    assert await ledger.check() == []


def test_a_starting_balance_outside_its_range_is_refused_by_the_ledger() -> None:
    with pytest.raises(AmountOutOfRange):
        Ledger(None, starting_balance=MAX_BALANCE + 1)  # type: ignore[arg-type]


BASE = {"discord": {"token": "t"}, "upstream": {"api_key": "k"}}
CONFIG_VALUES = {
    ("credit", "starting_balance"): (0, MAX_BALANCE),
    ("pricing", "actions", "video"): (0, MAX_PRICE),
    ("pricing", "chat", 0, "per_1k_output"): (0, MAX_PRICE),
}


def _with(path: tuple[str | int, ...], value: int) -> dict[str, object]:
    data: dict[str, object] = {**BASE}
    if path[:2] == ("pricing", "chat"):
        data["pricing"] = {"chat": [{"pattern": "*", path[-1]: value}]}
    elif path[0] == "pricing":
        data["pricing"] = {"actions": {path[-1]: value}}
    else:
        data[str(path[0])] = {path[-1]: value}
    return data


@settings(max_examples=60, deadline=None)
@given(value=AMOUNTS, path=st.sampled_from(list(CONFIG_VALUES)))
@example(value=INT64, path=("credit", "starting_balance"))
@example(value=10**30, path=("pricing", "actions", "video"))
def test_config_amounts_have_ranges_named_in_the_error(
    value: int, path: tuple[str | int, ...]
) -> None:
    low, high = CONFIG_VALUES[path]
    key = ".".join(str(part) for part in path)
    try:
        parse_config(_with(path, value))
    except ConfigError as error:
        assert not low <= value <= high
        assert error.problems == [(key, f"must be between {low:,} and {high:,} (got {value!r})")]
    else:
        assert low <= value <= high


@settings(max_examples=200, deadline=None)
@given(price=st.integers(0, MAX_PRICE), tokens=AMOUNTS)
def test_a_chat_price_never_leaves_the_balance_range(price: int, tokens: int) -> None:
    cost = ChatPrice(pattern="*", per_call=price, per_1k_input=price, per_1k_output=price).cost(
        tokens, tokens
    )
    assert 0 <= cost <= MAX_BALANCE
