"""The job engine's polling: one loop per provider asks the upstream about due jobs in batches
and sleeps until the next is due. Part of ``JobEngine`` (``bot/jobs.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, or_, select, update

from bot.config import JobsConfig
from bot.db import Database
from bot.errors import UpstreamError
from bot.job_progress import ProgressDisplay
from bot.job_tables import ACTIVE, JOBS
from bot.job_types import (
    Job,
    Provider,
    TaskState,
    aware,
)
from bot.ledger import Ledger

# The engine logs as one: its parts keep the logger of bot/jobs.py.
log = logging.getLogger("bot.jobs")

# How many due jobs one poll round reads from the database at most, per provider.
ROUND_LIMIT = 1000
MAX_SLEEP = 30.0


@dataclass(slots=True)
class _Poller:
    provider: Provider
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    requests: int = 0
    rounds: int = 0


class JobPolling:
    """Poll rounds, rescheduling, back-off and progress display."""

    # Set by JobEngine.__init__ (bot/jobs.py), which this part of the engine belongs to.
    db: Database
    ledger: Ledger
    config: JobsConfig
    shard_ids: list[int]
    _clock: Callable[[], datetime]
    running: bool
    _pollers: dict[str, _Poller]
    _progress: ProgressDisplay

    def _interval(self, job: Job, now: datetime) -> float:
        age = (now - job.created_at).total_seconds()
        grown = self.config.poll_initial * (1 + max(0.0, age) / self.config.poll_ramp)
        return min(self.config.poll_max, grown)

    async def _poll_loop(self, poller: _Poller) -> None:
        loop = asyncio.get_running_loop()
        while self.running:
            started = loop.time()
            # Cleared before the round, not after: a submit that lands while the round reads the
            # database (too late for its snapshot) must still cut the sleep the round plans, or
            # the new job waits for the next due one, up to MAX_SLEEP with none.
            poller.wake.clear()
            try:
                delay = await self.poll_round(poller.provider.name)
            except Exception:
                log.exception("poll round of %s failed", poller.provider.name)
                delay = self.config.poll_initial
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
