"""Two job engines on one database racing over the same due jobs (two processes whose shards
overlap for a moment, say during a rolling restart): every job still ends once, is delivered
once and moves its credit once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bot.db import Database, LedgerEntry, table
from bot.job_types import TaskState
from bot.jobs import JobEngine
from bot.ledger import Ledger
from tests.test_jobs import GUILD, RecordingPresenter, ScriptedProvider, make_engine, new_job

JOBS = 60
PRICE = 10
LEDGER = table(LedgerEntry)


def count_claims(engine: JobEngine, claims: Counter[int]) -> None:
    """Count the terminal claims each job's engines won (the one step that must happen once)."""
    claim = engine._claim_terminal

    async def counted(conn: Any, job_id: int, status: str, **values: Any) -> bool:
        won = await claim(conn, job_id, status, **values)
        claims[job_id] += won
        return won

    engine._claim_terminal = counted  # type: ignore[method-assign]


async def test_two_engines_racing_claim_deliver_and_settle_each_job_once(
    database: Database,
) -> None:
    ledger = Ledger(database, starting_balance=10_000)
    # One upstream both processes ask: the second client sees the first one's tasks.
    providers = [ScriptedProvider(), ScriptedProvider()]
    providers[1].states = providers[0].states
    presenters = [RecordingPresenter(), RecordingPresenter()]
    engines = [make_engine(database, ledger, providers[i], presenters[i]) for i in (0, 1)]
    claims: Counter[int] = Counter()
    for engine in engines:
        count_claims(engine, claims)
    jobs = []
    for n in range(JOBS):
        job, _ = await engines[0].submit(await engines[0].create(new_job(n, price=PRICE)))
        jobs.append(job)
    failing = {job.id for job in jobs[::3]}
    for job in jobs:
        assert job.upstream_id is not None
        providers[0].states[job.upstream_id] = (
            TaskState("failed", error="banned") if job.id in failing
            else TaskState("succeeded", result={"url": f"https://x/{job.id}.png"})
        )  # fmt: skip

    # Both engines find every job due and poll them all at once, a few rounds each.
    await asyncio.gather(*(e.poll_round("fake") for _ in range(3) for e in engines))
    for engine in engines:
        await engine.wait_idle()

    for provider in providers:  # both really raced: each asked about every job
        asked = {upstream_id for batch in provider.fetches for upstream_id in batch}
        assert asked == {job.upstream_id for job in jobs}
    assert claims == {job.id: 1 for job in jobs}
    delivered = Counter(job_id for p in presenters for job_id, _ in p.delivered)
    assert delivered == {job.id: 1 for job in jobs}
    for job in jobs:
        done = await engines[0].get(job.id)
        assert done is not None and done.delivery == "delivered"
        assert done.status == ("failed" if job.id in failing else "succeeded")
        hold = await ledger.get_hold(f"job:{job.key}")
        assert hold is not None
        assert (hold.status, hold.actual) == (
            ("refunded", 0) if job.id in failing else ("settled", PRICE)
        )
    async with database.read() as conn:
        kinds = dict(
            (
                await conn.execute(
                    select(LEDGER.c.kind, func.count())
                    .where(LEDGER.c.guild_id == GUILD)
                    .group_by(LEDGER.c.kind)
                )
            ).all()
        )
    assert kinds == {"opening": 1, "hold": JOBS, "refund": len(failing)}
    assert await ledger.balance(GUILD) == 10_000 - PRICE * (JOBS - len(failing))
    assert await ledger.check() == []
