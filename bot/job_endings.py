"""The job engine's endings: a job claimed terminal once, its hold settled or refunded in the
same transaction, then delivered (retried, idempotent). Part of ``JobEngine`` (``bot/jobs.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import JobsConfig
from bot.db import Database
from bot.job_progress import ProgressDisplay
from bot.job_tables import JOBS, TERMINAL
from bot.job_types import (
    Job,
    TaskState,
    Undeliverable,
)
from bot.ledger import Ledger
from bot.log_setup import bind

# The engine logs as one: its parts keep the logger of bot/jobs.py.
log = logging.getLogger("bot.jobs")

# Pauses before delivering a job again after a failure (a 503 or a rate-limit storm from
# Discord, a gateway that cannot hand over a finished video for a few minutes); after the last
# one, some 18 minutes on, the job stays pending until the next start.
DELIVERY_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 300.0, 600.0)


class JobEndings:
    """Success, failure and time-out; delivery of the result."""

    # Set by JobEngine.__init__ (bot/jobs.py), which this part of the engine belongs to.
    db: Database
    ledger: Ledger
    config: JobsConfig
    shard_ids: list[int]
    _clock: Callable[[], datetime]
    _endings: int
    _deliveries: set[asyncio.Task[None]]
    _delivery_slots: asyncio.Semaphore
    _progress: ProgressDisplay

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
