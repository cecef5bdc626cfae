"""The job engine on a real database with a scripted provider: batching, endings, resume."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import JobsConfig
from bot.db import Database, utcnow
from bot.errors import JobNotAwaiting, QueueFull
from bot.job_polling import MAX_SLEEP
from bot.job_types import Job, NewJob, Submitted, TaskState, aware
from bot.jobs import JOBS, JobEngine
from bot.ledger import Ledger
from bot.spending import Spending
from tests.helpers import wait_until

FAST = JobsConfig(poll_initial=0.05, poll_max=0.2, poll_floor=0.01, progress_interval=0.0)
GUILD = 1_100_000_000_000_000_000


class ScriptedProvider:
    name = "fake"
    batch_size = 100

    def __init__(self) -> None:
        self.states: dict[str, TaskState] = {}
        self.fetches: list[list[str]] = []
        self.fail_submit: Exception | None = None
        self.fail_fetch = 0
        self.answers: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    async def submit(self, job: Job) -> Submitted:
        if self.fail_submit:
            raise self.fail_submit
        upstream_id = f"task-{next(self._ids)}"
        self.states[upstream_id] = TaskState("pending")
        return Submitted(upstream_id)

    async def answer(self, job: Job, text: str) -> Submitted:
        self.answers.append((job.upstream_id or "", text))
        self.states[job.upstream_id or ""] = TaskState("running", progress=10)
        return Submitted(job.upstream_id or "")

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        self.fetches.append(list(upstream_ids))
        if self.fail_fetch:
            self.fail_fetch -= 1
            from bot.errors import UpstreamFailure

            raise UpstreamFailure("gateway hiccup")
        return {i: self.states[i] for i in upstream_ids if i in self.states}


class RecordingPresenter:
    def __init__(self) -> None:
        self.delivered: list[tuple[int, str]] = []
        self.progress_seen: list[tuple[int, int]] = []
        self.asked: list[tuple[int, dict[str, Any] | None]] = []  # awaiting states shown
        self.crash_next = False

    async def progress(self, job: Job, state: TaskState) -> None:
        if state.status == "awaiting":
            self.asked.append((job.id, job.result))
        else:
            self.progress_seen.append((job.id, state.progress))

    async def deliver(self, job: Job) -> None:
        if self.crash_next:
            self.crash_next = False
            raise RuntimeError("killed mid-delivery")
        self.delivered.append((job.id, job.status))


def make_engine(
    db: Database,
    ledger: Ledger,
    provider: ScriptedProvider,
    presenter: Any,
    clock: Callable[[], datetime] = utcnow,
) -> JobEngine:
    spending = Spending(db, ledger, moderation=None)  # type: ignore[arg-type]
    engine = JobEngine(db, spending, FAST, clock=clock)
    engine.add_provider(provider)
    engine.set_presenter("image", presenter)
    return engine


def new_job(n: int, *, price: int = 10, deadline: float = 1.0) -> NewJob:
    return NewJob(
        key=f"k{n}", kind="image", provider="fake", guild_id=GUILD, channel_id=5,
        user_id=7, request={"prompt": f"p{n}"}, price=price, deadline_minutes=deadline,
    )  # fmt: skip


@pytest.fixture
def ledger(database: Database) -> Ledger:
    return Ledger(database, starting_balance=10_000)


async def test_success_is_charged_and_delivered_once(database: Database, ledger: Ledger) -> None:
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter)
    await engine.start()
    try:
        job = (await engine.submit(await engine.create(new_job(1))))[0]
        assert await engine.create(new_job(1)) == await engine.get(job.id)  # replay: same job
        provider.states[job.upstream_id] = TaskState("running", progress=40)
        await wait_until(lambda: presenter.progress_seen == [(job.id, 40)])
        provider.states[job.upstream_id] = TaskState("succeeded", result={"url": "x"})
        await wait_until(lambda: presenter.delivered == [(job.id, "succeeded")])
        # The delivery is recorded after the presenter returns: wait for the record too.
        done = await engine.get(job.id)
        for _ in range(500):
            if done is not None and done.delivery == "delivered":
                break
            await asyncio.sleep(0.01)
            done = await engine.get(job.id)
        assert (done.status, done.delivery, done.result) == ("succeeded", "delivered", {"url": "x"})
        hold = await ledger.get_hold("job:k1")
        assert (hold.status, hold.actual) == ("settled", 10)
        assert await ledger.balance(GUILD) == 9_990
    finally:
        await engine.stop()
    assert await ledger.check() == []


async def test_one_request_per_hundred_pending_jobs(database: Database, ledger: Ledger) -> None:
    # Engine time stands still while 250 jobs are made (a minute on a loaded machine, past their
    # deadline in real time), then moves on just enough for every one of them to be due.
    now = [utcnow()]
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter, clock=lambda: now[0])
    jobs = [(await engine.submit(await engine.create(new_job(n, price=1))))[0] for n in range(250)]
    now[0] += timedelta(seconds=FAST.poll_initial)
    await engine.poll_round("fake")
    assert [len(ids) for ids in provider.fetches] == [100, 100, 50]
    assert len({i for ids in provider.fetches for i in ids}) == len(jobs)


async def test_failure_timeout_and_submit_refusal_refund(
    database: Database, ledger: Ledger
) -> None:
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter)
    await engine.start()
    try:
        failing = (await engine.submit(await engine.create(new_job(1))))[0]
        slow = (await engine.submit(await engine.create(new_job(2, deadline=0.3 / 60))))[0]
        provider.states[failing.upstream_id] = TaskState("failed", error="moderated")
        await wait_until(lambda: len(presenter.delivered) == 2)
        assert (await engine.get(failing.id)).error == "moderated"
        assert (await engine.get(slow.id)).status == "timed_out"

        provider.fail_submit = QueueFull("queue full")
        with pytest.raises(QueueFull):
            (await engine.submit(await engine.create(new_job(3))))[0]
        refused = await engine.get_by_key("k3")
        assert (refused.status, refused.delivery) == ("failed", "delivered")
    finally:
        await engine.stop()
    assert await ledger.balance(GUILD) == 10_000
    assert [h.status for h in [await ledger.get_hold(f"job:k{n}") for n in (1, 2, 3)]] == [
        "refunded"
    ] * 3
    assert await ledger.check() == []


async def test_transient_poll_errors_back_off_without_failing(
    database: Database, ledger: Ledger
) -> None:
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter)
    provider.fail_fetch = 3
    await engine.start()
    try:
        # A deadline no loaded machine reaches: this test is about the retries, not the clock.
        job = (await engine.submit(await engine.create(new_job(1, deadline=120))))[0]
        await wait_until(lambda: len(provider.fetches) >= 4, timeout=30)
        assert (await engine.get(job.id)).status == "pending"
        provider.states[job.upstream_id] = TaskState("succeeded", result={})
        await wait_until(lambda: presenter.delivered == [(job.id, "succeeded")])
    finally:
        await engine.stop()


async def test_a_submit_during_a_poll_round_is_not_slept_through(
    database: Database, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worst moment for a submit: the round has read the database before the job was there
    # and plans the long sleep of an idle provider. Its wake-up must still cut that sleep.
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter)
    round_of = engine.poll_round
    planned: list[float] = []
    jobs: list[Job] = []

    async def submit_as_the_round_ends(provider_name: str) -> float:
        delay = await round_of(provider_name)
        planned.append(delay)
        if not jobs:
            jobs.append((await engine.submit(await engine.create(new_job(1, deadline=120))))[0])
        return delay

    monkeypatch.setattr(engine, "poll_round", submit_as_the_round_ends)
    await engine.start()
    try:
        # Well short of MAX_SLEEP: a lost wake-up leaves the job unasked for all of it.
        await wait_until(lambda: len(provider.fetches) >= 1, timeout=MAX_SLEEP / 3)
        assert planned[0] == MAX_SLEEP  # the first round saw no job
        assert provider.fetches[0] == [jobs[0].upstream_id]
    finally:
        await engine.stop()


async def test_restart_delivers_exactly_once_and_refunds_unsubmitted(
    database: Database, ledger: Ledger
) -> None:
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter)
    presenter.crash_next = True  # the process "dies" between fetching the result and showing it
    await engine.start()
    job = (await engine.submit(await engine.create(new_job(1))))[0]
    orphan = await engine.create(new_job(2))  # held, but the upstream was never asked
    provider.states[job.upstream_id] = TaskState("succeeded", result={"url": "y"})
    await wait_until(lambda: not presenter.crash_next)  # the delivery was attempted and died
    await engine.stop()  # … with the process: its retry never runs
    assert presenter.delivered == []
    assert (await engine.get(job.id)).delivery == "pending"

    restarted = make_engine(database, ledger, provider, presenter)
    await restarted.start()
    await restarted.wait_idle()
    await wait_until(lambda: len(presenter.delivered) == 2)
    await restarted.stop()
    again = make_engine(database, ledger, provider, presenter)
    await again.start()
    await again.wait_idle()
    await again.stop()
    # The result once, and the member told once that the unsubmitted job was not charged.
    assert sorted(presenter.delivered) == [(job.id, "succeeded"), (orphan.id, "failed")]
    assert (await ledger.get_hold("job:k1")).status == "settled"
    assert (await again.get(orphan.id)).status == "failed"
    assert (await ledger.get_hold("job:k2")).status == "refunded"
    assert await ledger.balance(GUILD) == 9_990
    assert await ledger.check() == []


async def test_a_good_poll_resets_the_backoff(database: Database, ledger: Ledger) -> None:
    now = [utcnow()]
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter, clock=lambda: now[0])
    job = (await engine.submit(await engine.create(new_job(1, deadline=5))))[0]

    async def poll() -> tuple[int, float]:
        """One round a little later; the job's poll errors and seconds until it is asked again."""
        now[0] += timedelta(seconds=10)
        await engine.poll_round("fake")
        async with database.read() as conn:
            row = (
                await conn.execute(
                    select(JOBS.c.poll_errors, JOBS.c.next_poll_at).where(JOBS.c.id == job.id)
                )
            ).one()
        return row.poll_errors, (aware(row.next_poll_at) - now[0]).total_seconds()

    provider.fail_fetch = 3
    assert [await poll() for _ in range(3)] == [(1, 0.05), (2, 0.1), (3, 0.2)]
    errors, _ = await poll()  # the upstream answers again
    assert errors == 0
    provider.fail_fetch = 1
    assert await poll() == (1, 0.05)  # backs off from the start, not from the 4th doubling


async def test_a_job_awaiting_input_asks_once_and_runs_on_its_answer(
    database: Database, ledger: Ledger
) -> None:
    now = [utcnow()]
    provider, presenter = ScriptedProvider(), RecordingPresenter()
    engine = make_engine(database, ledger, provider, presenter, clock=lambda: now[0])
    job = (await engine.submit(await engine.create(new_job(1, deadline=5))))[0]
    asking = TaskState("awaiting", result={"prompt": "p1"})
    provider.states[job.upstream_id] = asking

    async def rounds(engine: JobEngine, count: int) -> None:
        for _ in range(count):
            now[0] += timedelta(seconds=10)
            await engine.poll_round("fake")
        await asyncio.gather(*engine._progress.tasks())

    await rounds(engine, 3)
    assert presenter.asked == [(job.id, {"prompt": "p1"})]  # every poll sees it; asked once
    waiting = await engine.get(job.id)
    assert (waiting.status, waiting.result) == ("awaiting", {"prompt": "p1"})
    restarted = make_engine(database, ledger, provider, presenter, clock=lambda: now[0])
    await rounds(restarted, 2)
    assert len(presenter.asked) == 2  # a new process asks again, once

    answered = await restarted.answer(job.id, "p2", user_id=7)
    assert provider.answers == [(job.upstream_id, "p2")]
    assert (answered.status, answered.request["answer"]) == ("pending", "p2")
    with pytest.raises(JobNotAwaiting):
        await restarted.answer(job.id, "p3", user_id=7)
    await rounds(restarted, 1)
    assert presenter.progress_seen[-2:] == [(job.id, 0), (job.id, 10)]  # the button goes at once
    provider.states[job.upstream_id] = TaskState("succeeded", result={"url": "z"})
    await rounds(restarted, 1)
    await restarted.wait_idle()
    assert presenter.delivered == [(job.id, "succeeded")]
    assert (await ledger.get_hold("job:k1")).status == "settled"
    assert await ledger.balance(GUILD) == 9_990
