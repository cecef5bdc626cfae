"""The job engine at start and in the background: resuming unfinished jobs, refunding holds
that nothing alive can own any more. Part of ``JobEngine`` (``bot/jobs.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from bot.config import JobsConfig
from bot.db import Database
from bot.job_tables import ACTIVE, HOLDS, JOBS, TERMINAL, runs_synchronously
from bot.job_types import (
    Job,
    shard_of,
)
from bot.ledger import Hold, Ledger

# The engine logs as one: its parts keep the logger of bot/jobs.py.
log = logging.getLogger("bot.jobs")

# An open hold no job owns is refunded once it is this much older than the longest a paid answer
# can run (see ``refund_orphaned_holds``; ``runtime.orphan_margin`` sets it); checked at start
# and then this often (or as often as a hold can turn orphan, when that is sooner).
ORPHAN_MARGIN = 60.0
ORPHAN_SWEEP_EVERY = 60.0


class JobRecovery:
    """Resume on start; sweep orphaned holds and stuck submits."""

    # Set by JobEngine.__init__ (bot/jobs.py), which this part of the engine belongs to.
    db: Database
    ledger: Ledger
    config: JobsConfig
    shard_ids: list[int]
    _clock: Callable[[], datetime]
    shard_count: int
    orphan_after: float | None
    running: bool
    _pollers: dict[str, Any]

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
        sync = [name for name, p in self._pollers.items() if runs_synchronously(p.provider)]
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
