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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.config import JobsConfig
from bot.db import Database, utcnow
from bot.errors import JobNotAwaiting, UpstreamError
from bot.job_endings import JobEndings
from bot.job_polling import JobPolling, _Poller
from bot.job_progress import ProgressDisplay
from bot.job_recovery import ORPHAN_MARGIN, JobRecovery
from bot.job_tables import ACTIVE, HOLDS, JOBS, TERMINAL, runs_synchronously
from bot.job_types import (
    Job,
    NewJob,
    Presenter,
    Provider,
    Submitted,
    TaskState,
    shard_of,
)
from bot.log_setup import bind
from bot.spending import Spending, SpendRequest

__all__ = ["ACTIVE", "HOLDS", "JOBS", "TERMINAL", "JobEngine"]

log = logging.getLogger(__name__)


class JobEngine(JobRecovery, JobPolling, JobEndings):
    """Jobs from submit to delivery; recovery, polling and endings live in their own modules."""

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
            if runs_synchronously(poller.provider):
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
        """The hold and the job row as one transaction: on SQLite one hop to its writer."""

        def work(conn: Connection) -> Job:
            hold = self.spending.hold_now(conn, spend, now)
            result = conn.execute(
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

        return await self.db.write(work)

    async def submit(self, job: Job) -> tuple[Job, Submitted]:
        """Start the job upstream; on refusal refund it, record why, and re-raise."""
        poller = self._pollers[job.provider]
        if runs_synchronously(poller.provider):
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
