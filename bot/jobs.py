"""Durable long tasks: submit, batched polling, deadlines, exactly-once delivery, resume.

Every job is a row. Its money moves in the same transactions as its status: the hold is taken
with the row, settled when the task succeeds and refunded when it fails or times out. Delivery
has its own state (``pending`` → ``delivered``) and the presenter's delivery is idempotent (it
edits the job's one message), so a restart between "result fetched" and "result shown" shows
it once. One poller per provider family asks the upstream about up to ``batch_size`` tasks per
request and sleeps until the next job is due; each job's interval grows with its age.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import JobsConfig
from bot.db import Database, HoldRow, JobRow, table, utcnow
from bot.errors import JobNotAwaiting, UpstreamError
from bot.job_progress import ProgressDisplay
from bot.job_types import (
    Job,
    NewJob,
    Presenter,
    Provider,
    Submitted,
    TaskState,
    Undeliverable,
    aware,
    shard_of,
)
from bot.ledger import Hold
from bot.log_setup import bind
from bot.spending import Spending, SpendRequest

log = logging.getLogger(__name__)

JOBS = table(JobRow)
HOLDS = table(HoldRow)
# "awaiting": the task waits for its member's input (a remix prompt); it is polled, and its
# deadline runs, like any other unfinished job.
ACTIVE = ("pending", "running", "awaiting")
TERMINAL = ("succeeded", "failed", "timed_out")
# How many due jobs one poll round reads from the database at most, per provider.
ROUND_LIMIT = 1000
MAX_SLEEP = 30.0
# An open hold no job owns is refunded once it is this much older than the longest a paid answer
# can run (see ``refund_orphaned_holds``; ``runtime.orphan_margin`` sets it); checked at start
# and then this often (or as often as a hold can turn orphan, when that is sooner).
ORPHAN_MARGIN = 60.0
ORPHAN_SWEEP_EVERY = 60.0
# Pauses before delivering a job again after a failure (a 503 or a rate-limit storm from
# Discord, a gateway that cannot hand over a finished video for a few minutes); after the last
# one, some 18 minutes on, the job stays pending until the next start.
DELIVERY_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 300.0, 600.0)


@dataclass(slots=True)
class _Poller:
    provider: Provider
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    requests: int = 0
    rounds: int = 0


class JobEngine:
    def __init__(
        self,
        db: Database,
        spending: Spending,
        config: JobsConfig,
        *,
        shard_count: int = 1,
        shard_ids: list[int] | None = None,
        answer_timeout: float | None = None,
        orphan_margin: float = ORPHAN_MARGIN,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.spending = spending
        self.ledger = spending.ledger
        self.config = config
        self.shard_count = shard_count
        self.shard_ids = list(shard_ids) if shard_ids else list(range(shard_count))
        self._clock = clock
        self._pollers: dict[str, _Poller] = {}
        self._presenters: dict[str, Presenter] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._endings = 0
        self._delivery_slots = asyncio.Semaphore(8)
        self._progress = ProgressDisplay(config.progress_interval, self._delivery_slots.locked)
        # The longest a paid answer may hold credit (None: never sweep orphaned holds).
        self.orphan_after = None if answer_timeout is None else answer_timeout + orphan_margin
        self._sweeper: asyncio.Task[None] | None = None
        self.running = False

    def add_provider(self, provider: Provider) -> None:
        self._pollers[provider.name] = _Poller(provider)

    def set_presenter(self, kind_prefix: str, presenter: Presenter) -> None:
        """The presenter of every job whose kind starts with ``kind_prefix``."""
        self._presenters[kind_prefix] = presenter

    def presenter_for(self, job: Job) -> Presenter | None:
        matches = [p for p in self._presenters if job.kind.startswith(p)]
        return self._presenters[max(matches, key=len)] if matches else None

    def stats(self, provider: str) -> tuple[int, int]:
        """(poll rounds, upstream requests) made so far by a provider's poller."""
        poller = self._pollers[provider]
        return poller.rounds, poller.requests

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every unfinished job of our shards, then start one poller per provider."""
        self.running = True
        await self._resume()
        if self.orphan_after is not None:
            await self.refund_orphaned_holds()
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="orphaned-holds")
        for poller in self._pollers.values():
            if _runs_synchronously(poller.provider):
                continue  # its jobs run in one call each; nothing to poll
            poller.task = asyncio.create_task(
                self._poll_loop(poller), name=f"poller-{poller.provider.name}"
            )

    async def stop(self) -> None:
        self.running = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for poller in self._pollers.values():
            if poller.task is not None:
                poller.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller.task
                poller.task = None
        background = [*self._progress.tasks(), *self._deliveries]
        for task in background:
            task.cancel()
        if background:
            await asyncio.gather(*background, return_exceptions=True)

    async def _resume(self) -> None:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(JOBS).where(
                        JOBS.c.shard.in_(self.shard_ids),
                        or_(
                            JOBS.c.status == "submitting",
                            and_(JOBS.c.status.in_(TERMINAL), JOBS.c.delivery == "pending"),
                        ),
                    )
                )
            ).all()
        interrupted = await self._interrupted_runs()
        for row in [*rows, *interrupted]:
            job = Job.from_row(row)
            if job.status in ("submitting", "pending", "running"):
                # We cannot know whether the upstream took it: the member is not charged.
                await self._finish(job, "failed", error="jobs.interrupted")
            else:
                self._schedule_delivery(job)

    async def refund_orphaned_holds(self) -> list[Hold]:
        """Refund open holds of our shards that no job owns and that are older than any paid
        answer can run; returns them.

        A /gpt answer or a thread reply holds, streams and settles inside one process, bounded
        by the upstream's total timeout. If that process dies (SIGKILL, OOM, a lost machine)
        the hold would stay open for good; past ``orphan_after`` nothing alive can own it, and
        with nothing known to be delivered the member gets the credit back. Jobs own their
        holds and settle them when resumed, so holds named by a job are left alone.
        """
        if self.orphan_after is None:
            return []
        cutoff = self._clock() - timedelta(seconds=self.orphan_after)
        owned = select(JOBS.c.id).where(JOBS.c.hold_id == HOLDS.c.id).exists()
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(HOLDS.c.id, HOLDS.c.guild_id, HOLDS.c.key).where(
                        HOLDS.c.status == "open", HOLDS.c.created_at < cutoff, ~owned
                    )
                )
            ).all()
        refunded = []
        for row in rows:
            if shard_of(row.guild_id, self.shard_count) not in self.shard_ids:
                continue  # another process's guild: it sweeps its own
            hold = await self.ledger.refund(row.id)  # a no-op if it was closed meanwhile
            if hold.status == "refunded":
                log.warning("refunded orphaned hold %s (%s): its answer never finished",
                            hold.id, hold.key)  # fmt: skip
                refunded.append(hold)
        await self._fail_stuck_submits(cutoff)
        return refunded

    async def _fail_stuck_submits(self, cutoff: datetime) -> None:
        """Fail (and so refund) our jobs still ``submitting`` since before ``cutoff``.

        A start that fails refunds its job at once; one that was cut off (a cancelled task)
        leaves the job between hold and upstream id, and no poller asks about a job without
        one. Older than any submit can take, it never reached the upstream, or not in a way
        we can follow: the member is not charged.
        """
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(JOBS).where(
                        JOBS.c.status == "submitting",
                        JOBS.c.shard.in_(self.shard_ids),
                        JOBS.c.created_at < cutoff,
                    )
                )
            ).all()
        for row in rows:
            log.warning("job %s never finished submitting; refunding it", row.id)
            await self._finish(Job.from_row(row), "failed", error="jobs.interrupted")

    async def _sweep_loop(self) -> None:
        # Sweeping more often than a hold can become an orphan finds nothing more.
        every = min(ORPHAN_SWEEP_EVERY, self.orphan_after or ORPHAN_SWEEP_EVERY)
        while self.running:
            await asyncio.sleep(every)
            try:
                await self.refund_orphaned_holds()
            except Exception:
                log.exception("sweeping orphaned holds failed")

    async def _interrupted_runs(self) -> list[Any]:
        """Jobs of one-call providers that were running when the process stopped."""
        sync = [name for name, p in self._pollers.items() if _runs_synchronously(p.provider)]
        if not sync:
            return []
        async with self.db.read() as conn:
            return list(
                (
                    await conn.execute(
                        select(JOBS).where(
                            JOBS.c.shard.in_(self.shard_ids),
                            JOBS.c.provider.in_(sync),
                            JOBS.c.status.in_(ACTIVE),
                        )
                    )
                ).all()
            )

    # ---- submit ------------------------------------------------------------------------------

    async def create(self, new: NewJob) -> Job:
        """The job row and its credit hold, in one transaction; idempotent by ``new.key``.

        Raises InsufficientCredit before anything is written.
        """
        existing = await self.get_by_key(new.key)
        if existing is not None:
            return existing
        await self.spending.admit(new.guild_id, new.user_id, new.channel_id, new.prompt)
        now = self._clock()
        spend = SpendRequest(
            guild_id=new.guild_id, user_id=new.user_id, amount=new.price, key=f"job:{new.key}",
            command=new.command or new.kind, cooldown=new.cooldown or new.kind,
            role_ids=new.role_ids,
        )  # fmt: skip
        try:
            job = await self._insert(new, spend, now)
        except IntegrityError:
            # The same interaction replayed concurrently: the first insert won.
            replayed = await self.get_by_key(new.key)
            if replayed is None:
                raise
            return replayed
        self.spending.balance_changed(new.guild_id)
        return job

    async def _insert(self, new: NewJob, spend: SpendRequest, now: datetime) -> Job:
        async with self.db.transaction() as conn:
            hold = await self.spending.hold_in(conn, spend)
            result = await conn.execute(
                JOBS.insert()
                .values(
                    key=new.key,
                    kind=new.kind,
                    provider=new.provider,
                    guild_id=new.guild_id,
                    shard=shard_of(new.guild_id, self.shard_count),
                    channel_id=new.channel_id,
                    user_id=new.user_id,
                    message_id=new.message_id,
                    locale=new.locale,
                    parent_id=new.parent_id,
                    status="submitting",
                    progress=0,
                    request=json.dumps(new.request, ensure_ascii=False),
                    hold_id=hold.id,
                    deadline=now + timedelta(minutes=new.deadline_minutes),
                    next_poll_at=now,
                    attempts=0,
                    poll_errors=0,
                    delivery="none",
                    created_at=now,
                    updated_at=now,
                )
                .returning(*JOBS.c)
            )
            return Job.from_row(result.one())

    async def submit(self, job: Job) -> tuple[Job, Submitted]:
        """Start the job upstream; on refusal refund it, record why, and re-raise."""
        poller = self._pollers[job.provider]
        if _runs_synchronously(poller.provider):
            job = await self._update(job.id, status="running", upstream_id=f"run-{job.id}")
            self._spawn(self._run(poller.provider, job), f"run-job-{job.id}")
            return job, Submitted(job.upstream_id or "")
        try:
            submitted = await poller.provider.submit(job)
        except UpstreamError as exc:
            await self._finish(job, "failed", error=exc.key, deliver=False)
            raise
        except Exception:
            await self._finish(job, "failed", error="error.unexpected", deliver=False)
            raise
        now = self._clock()
        job = await self._update(
            job.id, status="pending", upstream_id=submitted.upstream_id,
            next_poll_at=now + timedelta(seconds=self.config.poll_initial),
        )  # fmt: skip
        poller.wake.set()
        return job, submitted

    async def answer(self, job_id: int, text: str, user_id: int) -> Job:
        """Give a job that waits for its member's input (status ``awaiting``) what it asked for.

        The job then runs on under its own hold and deadline: nothing more is charged. Raises
        JobNotAwaiting when it no longer waits, PromptFlagged when the guild's moderation
        refuses the text, and the provider's UpstreamError when the upstream refuses it (the
        job then still waits, so the member may try another text).
        """
        job = await self.get(job_id)
        if job is None or job.status != "awaiting":
            raise JobNotAwaiting(f"job {job_id} is not waiting for input")
        await self.spending.admit(job.guild_id, user_id, job.channel_id, text)
        poller = self._pollers[job.provider]
        submitted = await poller.provider.answer(job, text)  # type: ignore[attr-defined]
        now = self._clock()
        values = {
            "status": "pending", "progress": 0, "upstream_id": submitted.upstream_id,
            "request": json.dumps({**job.request, "answer": text}, ensure_ascii=False),
            "next_poll_at": now + timedelta(seconds=self.config.poll_initial), "updated_at": now,
        }  # fmt: skip
        async with self.db.transaction() as conn:
            row = (
                await conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job.id, JOBS.c.status.in_(ACTIVE))
                    .values(**values)
                    .returning(*JOBS.c)
                )
            ).one_or_none()
        if row is None:  # its deadline passed meanwhile: it was refunded
            raise JobNotAwaiting(f"job {job_id} finished while its input was sent")
        job = Job.from_row(row)
        poller.wake.set()
        # The card stops asking at once, through the same queue as progress: the result, which
        # waits for that queue, is never painted over by it.
        self._show_progress(job, TaskState("pending"), urgent=True)
        return job

    async def abandon(self, job: Job, error: str) -> None:
        """Refund a job that never reached the upstream (Discord refused its card, say); it is
        not shown anywhere."""
        await self._finish(job, "failed", error=error, deliver=False)

    async def _run(self, provider: Provider, job: Job) -> None:
        """A provider that answers in one long call (chat-format media, the images route)."""
        bind(guild=job.guild_id, member=job.user_id, command=job.kind, job=job.id)

        async def report(state: TaskState) -> None:
            # The text itself is the progress here, so every report is worth showing.
            self._show_progress(job, state)

        budget = (job.deadline - self._clock()).total_seconds()
        try:
            async with asyncio.timeout(max(0.0, budget)):
                state = await provider.run(job, report)  # type: ignore[attr-defined]
        except TimeoutError:
            await self._finish(job, "timed_out", error="jobs.timed_out")
        except UpstreamError as exc:
            await self._finish(job, "failed", error=exc.detail or exc.key)
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self._finish(job, "failed", error="jobs.failed")
        else:
            if state.status == "succeeded":
                await self._succeed(job, state)
            else:
                await self._finish(job, "failed", error=state.error or "jobs.failed")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def attach_message(self, job_id: int, message_id: int) -> Job:
        return await self._update(job_id, message_id=message_id)

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(JOBS).where(JOBS.c.id == job_id))).one_or_none()
        return Job.from_row(row) if row else None

    async def get_by_key(self, key: str) -> Job | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(JOBS).where(JOBS.c.key == key))).one_or_none()
        return Job.from_row(row) if row else None

    async def count_active(self, provider: str | None = None) -> int:
        query = select(func.count()).where(JOBS.c.status.in_(ACTIVE))
        if provider:
            query = query.where(JOBS.c.provider == provider)
        async with self.db.read() as conn:
            return int(await conn.scalar(query) or 0)

    # ---- polling -----------------------------------------------------------------------------

    def _interval(self, job: Job, now: datetime) -> float:
        age = (now - job.created_at).total_seconds()
        grown = self.config.poll_initial * (1 + max(0.0, age) / self.config.poll_ramp)
        return min(self.config.poll_max, grown)

    async def _poll_loop(self, poller: _Poller) -> None:
        loop = asyncio.get_running_loop()
        while self.running:
            started = loop.time()
            try:
                delay = await self.poll_round(poller.provider.name)
            except Exception:
                log.exception("poll round of %s failed", poller.provider.name)
                delay = self.config.poll_initial
            poller.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poller.wake.wait(), timeout=delay)
            # A submit wakes the loop to plan its sleep again; during a burst of submits that
            # must not turn into a round per submit, each asking about a handful of tasks.
            await asyncio.sleep(max(0.0, started + self.config.poll_floor - loop.time()))

    async def poll_round(self, provider_name: str) -> float:
        """Poll every due job of one provider; returns seconds until the next one is due.

        "Due" includes jobs due before the next round could start (``poll_floor`` away): asked
        a little early rather than late, no job waits longer than its interval. The last
        request's spare room goes to the jobs due next: they cost no extra request, and asked
        together now they stay together, so later rounds send full requests too.
        """
        poller = self._pollers[provider_name]
        now = self._clock()
        soon = now + timedelta(seconds=self.config.poll_floor)
        jobs = await self._active_jobs(
            provider_name, or_(JOBS.c.next_poll_at <= soon, JOBS.c.deadline <= now), ROUND_LIMIT
        )
        if jobs:
            poller.rounds += 1
        due = [j for j in jobs if j.deadline > now]
        for job in jobs:
            if job.deadline <= now:
                await self._finish(job, "timed_out", error="jobs.timed_out")
        size = max(1, poller.provider.batch_size)
        if due and len(due) % size:
            later = now + timedelta(seconds=self.config.poll_initial)
            due += await self._active_jobs(
                provider_name,
                and_(
                    JOBS.c.next_poll_at > soon, JOBS.c.next_poll_at <= later, JOBS.c.deadline > now
                ),
                -len(due) % size,
            )
        for start in range(0, len(due), size):
            await self._poll_batch(poller, due[start : start + size])
        return await self._next_due(provider_name)

    async def _active_jobs(self, provider_name: str, condition: Any, limit: int) -> list[Job]:
        """Our shards' unfinished jobs of one provider meeting ``condition``, soonest due first."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(JOBS)
                    .where(
                        JOBS.c.provider == provider_name,
                        JOBS.c.status.in_(ACTIVE),
                        JOBS.c.shard.in_(self.shard_ids),
                        condition,
                    )
                    .order_by(JOBS.c.next_poll_at)
                    .limit(limit)
                )
            ).all()
        return [Job.from_row(r) for r in rows]

    async def _poll_batch(self, poller: _Poller, jobs: list[Job]) -> None:
        ids = [j.upstream_id for j in jobs if j.upstream_id]
        poller.requests += 1
        now = self._clock()
        try:
            states = await poller.provider.fetch(ids)
        except UpstreamError as exc:
            # A transient upstream problem: back off, keep the jobs (their deadline still holds).
            log.warning("polling %s failed for %d jobs: %s", poller.provider.name, len(ids), exc)
            for job in jobs:
                await self._backoff(job, now)
            return
        running: list[tuple[Job, TaskState | None]] = []
        for job in jobs:
            state = states.get(job.upstream_id or "")
            if state is not None and state.status == "succeeded":
                await self._succeed(job, state)
            elif state is not None and state.status == "failed":
                await self._finish(job, "failed", error=state.error or "jobs.failed")
            else:
                running.append((job, state))  # None: not listed yet (gateways store lazily)
        await self._reschedule(running, now)

    async def _reschedule(self, polled: list[tuple[Job, TaskState | None]], now: datetime) -> None:
        """Record the state of jobs still running and when to ask again, in one statement for
        a whole request (a transaction per job made a round of 1,000 jobs take seconds); then
        show the progress of those that moved, and what those awaiting input ask for."""
        if not polled:
            return
        params: list[dict[str, Any]] = []
        moved: list[tuple[Job, TaskState]] = []
        asking: list[tuple[Job, TaskState]] = []
        for job, state in polled:
            status, progress = job.status, job.progress
            if state is not None:
                status = state.status if state.status in ACTIVE else "pending"
                progress = state.progress
                now_job = replace(job, status=status, progress=progress)
                if status == "awaiting":
                    if job.id not in self._progress.asked:
                        asking.append((replace(now_job, result=state.result), state))
                else:
                    self._progress.asked.discard(job.id)
                    if (status, progress) != (job.status, job.progress):
                        moved.append((now_job, state))
            params.append(
                {
                    "b_id": job.id,
                    "b_status": status,
                    "b_progress": progress,
                    "b_asked": 0 if state is None else 1,
                    "b_due": now + timedelta(seconds=self._interval(job, now)),
                }
            )
        statement = (
            update(JOBS)
            # Not IN (…): an expanding parameter cannot be used with executemany.
            .where(JOBS.c.id == bindparam("b_id"), or_(*(JOBS.c.status == s for s in ACTIVE)))
            .values(
                status=bindparam("b_status"),
                progress=bindparam("b_progress"),
                attempts=JOBS.c.attempts + bindparam("b_asked", type_=Integer),
                # The upstream answered: a later failure backs off from the start again.
                poll_errors=0,
                next_poll_at=bindparam("b_due"),
                updated_at=now,
            )
        )
        async with self.db.transaction() as conn:
            await conn.execute(statement, params)
            for job, _ in asking:
                # What the task asks is kept: a member may answer after a restart.
                await conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job.id, JOBS.c.status.in_(ACTIVE))
                    .values(result=json.dumps(job.result, ensure_ascii=False))
                )
        for job, state in moved:
            self._show_progress(job, state)
        for job, state in asking:
            # Unlike progress, never throttled away: the job cannot finish without an answer.
            # Shown once per process; after a restart once more (the same card, edited).
            self._progress.asked.add(job.id)
            self._show_progress(job, state, urgent=True)

    async def _backoff(self, job: Job, now: datetime) -> None:
        async with self.db.transaction() as conn:
            errors = await conn.scalar(select(JOBS.c.poll_errors).where(JOBS.c.id == job.id)) or 0
            delay = min(self.config.poll_max * 4, self.config.poll_initial * 2 ** min(errors, 6))
            await conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job.id)
                .values(poll_errors=errors + 1, next_poll_at=now + timedelta(seconds=delay))
            )

    def _show_progress(self, job: Job, state: TaskState, *, urgent: bool = False) -> None:
        presenter = self.presenter_for(job)
        if presenter is not None:
            self._progress.show(presenter, job, state, urgent=urgent)

    async def _next_due(self, provider_name: str) -> float:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(func.min(JOBS.c.next_poll_at), func.min(JOBS.c.deadline)).where(
                        JOBS.c.provider == provider_name,
                        JOBS.c.status.in_(ACTIVE),
                        JOBS.c.shard.in_(self.shard_ids),
                    )
                )
            ).one()
        candidates = [aware(v) for v in row if v is not None]
        if not candidates:
            return MAX_SLEEP
        wait = (min(candidates) - self._clock()).total_seconds()
        return min(MAX_SLEEP, max(self.config.poll_floor, wait))

    # ---- endings -----------------------------------------------------------------------------

    async def _succeed(self, job: Job, state: TaskState) -> None:
        with self._ending():
            async with self.db.transaction() as conn:
                if not await self._claim_terminal(conn, job.id, "succeeded", result=state.result):
                    return
                if job.hold_id is not None:
                    await self.ledger.close_in(conn, job.hold_id, 1 << 62, "settled")
            self._progress.forget(job.id)
            refreshed = await self.get(job.id)
            if refreshed is not None:
                self._schedule_delivery(refreshed)

    async def _finish(self, job: Job, status: str, *, error: str, deliver: bool = True) -> None:
        """Fail or time out a job: refund its hold and (optionally) tell the member."""
        with self._ending():
            async with self.db.transaction() as conn:
                delivery = "pending" if deliver else "delivered"
                claimed = await self._claim_terminal(
                    conn, job.id, status, error=error, delivery=delivery
                )
                if claimed and job.hold_id is not None:
                    await self.ledger.close_in(conn, job.hold_id, 0, "refunded")
            self._progress.forget(job.id)
            if claimed and deliver:
                refreshed = await self.get(job.id)
                if refreshed is not None:
                    self._schedule_delivery(refreshed)

    @contextlib.contextmanager
    def _ending(self) -> Iterator[None]:
        """Counts jobs between their terminal claim and their delivery being scheduled, when
        neither the database nor ``_deliveries`` shows that a delivery is still to come."""
        self._endings += 1
        try:
            yield
        finally:
            self._endings -= 1

    async def _claim_terminal(
        self,
        conn: AsyncConnection,
        job_id: int,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        delivery: str = "pending",
    ) -> bool:
        """Move a job to a terminal state once; False when another path got there first."""
        values: dict[str, Any] = {
            "status": status, "delivery": delivery, "error": error, "updated_at": self._clock(),
        }  # fmt: skip
        values["finished_at"] = values["updated_at"]
        if result is not None:
            values["result"] = json.dumps(result, ensure_ascii=False)
            values["progress"] = 100
        claimed = await conn.execute(
            update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status.not_in(TERMINAL)).values(**values)
        )
        return claimed.rowcount == 1  # type: ignore[attr-defined]

    def _schedule_delivery(self, job: Job) -> None:
        self._spawn(self._deliver(job), f"deliver-job-{job.id}")

    async def _deliver(self, job: Job) -> None:
        bind(guild=job.guild_id, member=job.user_id, command=job.kind, job=job.id)
        presenter = self.presenter_for(job)
        if presenter is None:
            log.error("no presenter for job %s of kind %s", job.id, job.kind)
            return
        progress = self._progress.on_its_way(job.id)
        if progress is not None:
            await asyncio.wait([progress])  # a late progress edit must not land over the result
        for pause in (*DELIVERY_RETRY_DELAYS, None):
            try:
                async with self._delivery_slots:
                    await presenter.deliver(job)
                break
            except Undeliverable as exc:
                log.warning("job %s cannot be delivered (%s); giving up", job.id, exc)
                await self._update(job.id, delivery="undeliverable")
                return
            except Exception:
                if pause is None:
                    # Left pending: the next start delivers it again (delivery is idempotent).
                    log.exception("delivery of job %s failed; it stays pending", job.id)
                    return
                log.warning("delivery of job %s failed; again in %.0fs", job.id, pause,
                            exc_info=True)  # fmt: skip
                await asyncio.sleep(pause)
        await self._update(job.id, delivery="delivered")
        log.info("job %s delivered (%s)", job.id, job.status)

    async def _update(self, job_id: int, **values: Any) -> Job:
        values.setdefault("updated_at", self._clock())
        async with self.db.transaction() as conn:
            result = await conn.execute(
                update(JOBS).where(JOBS.c.id == job_id).values(**values).returning(*JOBS.c)
            )
            return Job.from_row(result.one())

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for scheduled deliveries, including those of jobs ending right now (tests and
        graceful shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._endings or self._deliveries:
            left = deadline - loop.time()
            if left <= 0:
                return
            if self._deliveries:
                await asyncio.wait(list(self._deliveries), timeout=left)
            else:
                await asyncio.sleep(0.005)


def _runs_synchronously(provider: Provider) -> bool:
    return callable(getattr(provider, "run", None))
