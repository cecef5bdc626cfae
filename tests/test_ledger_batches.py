"""Movements that arrive together: on PostgreSQL those waiting while one is in flight go as one
statement (bot/pg_batches.py); on SQLite, one transaction of the writer. Either way each moves
exactly its own amount, a replay or a second settle moves nothing, and a hold the balance cannot
cover is refused with nothing taken."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.db import Cooldown, Database, LedgerEntry, table
from bot.errors import InsufficientCredit, OnCooldown
from bot.ledger import Ledger
from bot.spending import Spending, SpendRequest

GUILD = 1_000_000_000_000_000_031
OTHER = 1_000_000_000_000_000_032
LEDGER = table(LedgerEntry)


def request(key: str, amount: int = 10, guild: int = GUILD, member: int = 7) -> SpendRequest:
    return SpendRequest(guild, member, amount, key=key, command="gpt:x", cooldown="gpt")


async def opened(database: Database, balance: int, *guilds: int) -> tuple[Ledger, Spending]:
    """A ledger whose guilds' accounts exist, so that their holds take the one-statement path."""
    ledger = Ledger(database, starting_balance=balance)
    for guild in guilds:
        await ledger.balance(guild)
    return ledger, Spending(database, ledger, moderation=None)  # type: ignore[arg-type]


def went_together(database: Database) -> bool:
    """On PostgreSQL, whether some requests went in a statement for many; SQLite's writer
    batches on its own (tests/test_sqlite_writer.py)."""
    return database.is_sqlite or sum(b.batched for b in database._batchers.values()) > 0


async def kinds(database: Database, guild: int) -> dict[str, tuple[int, int]]:
    """Each kind of ledger row of the guild: (how many, their sum)."""
    async with database.read() as conn:
        rows = await conn.execute(
            select(LEDGER.c.kind, func.count(), func.sum(LEDGER.c.amount))
            .where(LEDGER.c.guild_id == guild)
            .group_by(LEDGER.c.kind)
        )
        return {kind: (count, int(total)) for kind, count, total in rows}


async def test_sixty_pairs_at_once_move_exactly_their_amounts(database: Database) -> None:
    ledger, spending = await opened(database, 1_000, GUILD)

    async def pair(n: int) -> None:
        hold = await spending.hold(request(f"p:{n}", 10))
        settled = await ledger.settle(hold, 7)
        assert (settled.status, settled.actual, settled.amount) == ("settled", 7, 10)

    await asyncio.gather(*(pair(n) for n in range(60)))
    assert await ledger.balance(GUILD) == 1_000 - 60 * 7
    assert await kinds(database, GUILD) == {
        "opening": (1, 1_000), "hold": (60, -600), "release": (60, 180),
    }  # fmt: skip
    assert await ledger.check() == []
    assert went_together(database)


async def test_a_batch_takes_what_the_balance_covers_and_refuses_the_rest(
    database: Database,
) -> None:
    ledger, spending = await opened(database, 95, GUILD)
    outcomes = await asyncio.gather(
        *(spending.hold(request(f"r:{n}", 10)) for n in range(20)), return_exceptions=True
    )
    taken = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(taken) == 9
    assert len(refused) == 11 and all(isinstance(o, InsufficientCredit) for o in refused)
    assert all(o.needed == 10 and o.balance == 5 for o in refused)  # type: ignore[union-attr]
    assert await ledger.balance(GUILD) == 5
    assert await kinds(database, GUILD) == {"opening": (1, 95), "hold": (9, -90)}
    assert await ledger.check() == []
    assert went_together(database)


async def test_replays_and_second_settles_in_one_batch_move_once(database: Database) -> None:
    ledger, spending = await opened(database, 500, GUILD)
    # Each key sent three times at once, beside other holds: one hold per key.
    holds = await asyncio.gather(
        *(spending.hold(request(f"k:{n % 5}", 20)) for n in range(15)),
        *(spending.hold(request(f"x:{n}", 1)) for n in range(10)),
    )
    assert len({h.id for h in holds[:15]}) == 5
    assert await ledger.balance(GUILD) == 500 - 5 * 20 - 10
    # Every hold settled twice and refunded once, all at once: each closes once.
    firsts = {h.id: h for h in holds[:15]}
    closes = [ledger.settle(h, 5) for h in firsts.values()] * 2
    closes += [ledger.refund(h) for h in firsts.values()]
    closes += [ledger.settle(h, 1) for h in holds[15:]]
    closed = await asyncio.gather(*closes)
    for hold_id in firsts:
        ends = {(c.status, c.actual) for c in closed if c.id == hold_id}
        assert len(ends) == 1  # every request about the hold saw the same end
    returned = sum(20 - (c.actual or 0) for c in {c.id: c for c in closed[:-10]}.values())
    assert await ledger.balance(GUILD) == 500 - 5 * 20 - 10 + returned
    assert (await kinds(database, GUILD))["hold"] == (15, -110)
    assert await ledger.check() == []
    assert went_together(database)


async def test_a_batch_over_guilds_keeps_each_guilds_rules(database: Database) -> None:
    ledger, spending = await opened(database, 100, GUILD, OTHER)
    async with database.transaction() as conn:
        await conn.execute(
            Cooldown.__table__.insert().values(guild_id=OTHER, command="gpt", seconds=60)
        )
    outcomes = await asyncio.gather(
        *(spending.hold(request(f"g:{n}", 10)) for n in range(8)),
        *(spending.hold(request(f"o:{n}", 10, OTHER, member=9)) for n in range(4)),
        return_exceptions=True,
    )
    mine, theirs = outcomes[:8], outcomes[8:]
    assert not any(isinstance(o, BaseException) for o in mine)
    # The cooldown applies in OTHER: one hold of its member, the rest told to wait.
    assert sum(not isinstance(o, BaseException) for o in theirs) == 1
    assert all(isinstance(o, OnCooldown) for o in theirs if isinstance(o, BaseException))
    assert await ledger.balance(GUILD) == 20
    assert await ledger.balance(OTHER) == 90
    assert await ledger.check() == []
    assert went_together(database)


@pytest.mark.parametrize("kind", ["settle", "refund"])
async def test_a_closed_hold_answers_the_same_to_every_late_close(
    database: Database, kind: str
) -> None:
    ledger, spending = await opened(database, 100, GUILD)
    hold = await spending.hold(request("late", 30))
    first = await (ledger.settle(hold, 12) if kind == "settle" else ledger.refund(hold))
    again = await asyncio.gather(*(ledger.settle(hold, 1) for _ in range(6)))
    assert {(h.status, h.actual) for h in again} == {(first.status, first.actual)}
    assert await ledger.balance(GUILD) == 100 - (first.actual or 0)
    assert await ledger.check() == []


# -- the batcher itself, over a runner that records what it is sent ----------------------------


class Recorder:
    """Runs statements by answering from their parameters, one at a time, when released."""

    def __init__(self, fail: BaseException | None = None, fail_many: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, object], list[int] | None]] = []
        self.release = asyncio.Event()
        self.fail = fail
        self.fail_many = fail_many  # only the statements for many fail

    async def __call__(self, statement, params, lock):  # type: ignore[no-untyped-def]
        self.sent.append((statement.text, dict(params), lock))
        await self.release.wait()
        if self.fail is not None and (statement.text == "many" or not self.fail_many):
            raise self.fail
        if statement.text == "many":  # every other request moved something
            return [(n, f"moved {key}") for n, key in enumerate(params["key"], 1) if n % 2]
        return [(f"alone {params['key']}",)]


def batcher(recorder: Recorder, *, locked: bool = False):  # type: ignore[no-untyped-def]
    from sqlalchemy import text as sql

    from bot.pg_batches import Batched, Batcher

    return Batcher(Batched(sql("one"), sql("many"), {"key": str.upper}, locked), recorder)


async def test_what_waits_while_one_runs_goes_next_as_one_statement() -> None:
    recorder = Recorder()
    b = batcher(recorder, locked=True)
    first = asyncio.create_task(b.rows({"guild": 5, "key": "a"}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(b.rows({"guild": g, "key": k})) for g, k in [(9, "b"), (5, "c")]]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == [("alone a",)]
    assert [await t for t in rest] == [[("moved B",)], []]  # "c" moved nothing
    assert recorder.sent == [
        ("one", {"guild": 5, "key": "a"}, [5]),
        ("many", {"guild": [9, 5], "key": ["B", "C"]}, [5, 9]),  # accounts locked in order
    ]
    assert b.batched == 2


async def test_a_batch_that_breaks_a_unique_key_sends_everyone_the_usual_way() -> None:
    from sqlalchemy.exc import IntegrityError

    recorder = Recorder(IntegrityError("many", {}, Exception("duplicate key")), fail_many=True)
    b = batcher(recorder)
    first = asyncio.create_task(b.rows({"guild": 1, "key": "a"}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(b.rows({"guild": 1, "key": k})) for k in "bcd"]
    await asyncio.sleep(0)
    cancelled = rest.pop()
    cancelled.cancel()
    recorder.release.set()
    assert await first == [("alone a",)]
    assert [await t for t in rest] == [[], []]
    assert recorder.sent[1][1]["key"] == ["B", "C"]  # the cancelled request was never sent


async def test_a_batch_that_fails_tells_each_of_its_requests() -> None:
    recorder = Recorder(fail=ConnectionResetError("gone"))
    b = batcher(recorder)
    requests = [asyncio.create_task(b.rows({"guild": 1, "key": k})) for k in "abc"]
    await asyncio.sleep(0)
    recorder.release.set()
    outcomes = await asyncio.gather(*requests, return_exceptions=True)
    assert all(isinstance(o, ConnectionResetError) for o in outcomes)
    await b.drain()
    recorder.fail = None  # nothing is left stuck: the next request goes at once
    assert await b.rows({"guild": 1, "key": "z"}) == [("alone z",)]
