"""How running jobs show their progress: in the background, throttled, in order per job.

Progress is a courtesy. Discord allows a bot 50 requests a second in all and a channel 5 per
5 seconds, and results, commands and answers need most of them; a poll round that waited on
progress edits would be late for every other job. So edits run as background tasks, at most one
per job and per channel every ``interval``, ``PER_SECOND`` over all jobs, and none while results
wait for a delivery slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.job_types import Job, Presenter, TaskState

log = logging.getLogger(__name__)

# Progress edits started per second at most, over all jobs: with a thousand jobs running,
# showing every job's progress would crowd out the results.
PER_SECOND = 10.0


class ProgressDisplay:
    def __init__(self, interval: float, results_waiting: Callable[[], bool]) -> None:
        self.interval = interval
        self._results_waiting = results_waiting
        self._last: dict[int, float] = {}  # by job
        self._channel_last: dict[int, float] = {}
        self._shown: dict[int, asyncio.Task[None]] = {}  # the edit on its way, by job
        self._channels: set[int] = set()  # channels with an edit on its way
        self._tokens = PER_SECOND
        self._refilled = 0.0
        # Jobs whose "waiting for your input" this process has shown (again after a restart).
        self.asked: set[int] = set()

    def show(
        self, presenter: Presenter, job: Job, state: TaskState, *, urgent: bool = False
    ) -> None:
        """Show ``state`` on the job's card in the background, or not at all. An ``urgent``
        state (input asked for or given) skips the throttle and queues behind the job's edit on
        its way, so a job's edits land in the order they were made."""
        now = asyncio.get_running_loop().time()
        if not (urgent or self._allowed(job, now)):
            return
        self._last[job.id] = self._channel_last[job.channel_id] = now
        self._channels.add(job.channel_id)
        previous = self._shown.get(job.id)
        task = asyncio.create_task(
            self._display(presenter, job, state, previous), name=f"progress-job-{job.id}"
        )
        self._shown[job.id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._shown.get(job.id) is task:
                del self._shown[job.id]
            self._channels.discard(job.channel_id)

        task.add_done_callback(done)

    def on_its_way(self, job_id: int) -> asyncio.Task[None] | None:
        """The job's progress edit still on its way: a result must not be painted over by it."""
        return self._shown.get(job_id)

    def forget(self, job_id: int) -> None:
        """The job has ended: nothing more of its progress is shown."""
        self._last.pop(job_id, None)
        self.asked.discard(job_id)

    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._shown.values())

    def _allowed(self, job: Job, now: float) -> bool:
        if (
            self._results_waiting()
            or job.id in self._shown
            or job.channel_id in self._channels
            or now - self._last.get(job.id, 0.0) < self.interval
            or now - self._channel_last.get(job.channel_id, 0.0) < self.interval
        ):
            return False
        self._tokens = min(PER_SECOND, self._tokens + (now - self._refilled) * PER_SECOND)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _display(
        self,
        presenter: Presenter,
        job: Job,
        state: TaskState,
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await presenter.progress(job, state)
        except Exception:
            log.warning("progress display failed for job %s", job.id, exc_info=True)
            self.asked.discard(job.id)  # a question not shown is asked again at the next poll
