"""The job engine's tables and job states (``bot/jobs.py`` and its parts read them)."""

from __future__ import annotations

from bot.db import HoldRow, JobRow, table
from bot.job_types import Provider

JOBS = table(JobRow)
HOLDS = table(HoldRow)
# "awaiting": the task waits for its member's input (a remix prompt); it is polled, and its
# deadline runs, like any other unfinished job.
ACTIVE = ("pending", "running", "awaiting")
TERMINAL = ("succeeded", "failed", "timed_out")


def runs_synchronously(provider: Provider) -> bool:
    return callable(getattr(provider, "run", None))
