"""What the job engine, its providers and its presenters exchange."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.db import utcnow

# "awaiting": the task waits for its member's input (a Midjourney remix prompt) before it runs.
TaskStatus = Literal["pending", "running", "awaiting", "succeeded", "failed"]


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    key: str
    kind: str
    provider: str
    upstream_id: str | None
    guild_id: int
    channel_id: int
    user_id: int
    message_id: int | None
    locale: str
    parent_id: int | None
    status: str
    progress: int
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    hold_id: int | None
    deadline: datetime
    created_at: datetime
    delivery: str

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=row.id, key=row.key, kind=row.kind, provider=row.provider,
            upstream_id=row.upstream_id, guild_id=row.guild_id, channel_id=row.channel_id,
            user_id=row.user_id, message_id=row.message_id, locale=row.locale,
            parent_id=row.parent_id, status=row.status, progress=row.progress,
            request=json.loads(row.request), result=json.loads(row.result) if row.result else None,
            error=row.error, hold_id=row.hold_id, deadline=aware(row.deadline),
            created_at=aware(row.created_at), delivery=row.delivery,
        )  # fmt: skip


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


class Undeliverable(Exception):
    """Raised by a presenter when the job's channel is gone or closed to the bot for good:
    retrying the delivery (now or after a restart) cannot help."""


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the upstream says about one task, in the engine's words.

    ``result`` is the finished result; for ``awaiting`` it is what the task asks the member to
    confirm or change (``{"prompt": …}``), kept with the job so a restart can ask again.
    """

    status: TaskStatus
    progress: int = 0
    preview_url: str | None = None
    result: dict[str, Any] | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Submitted:
    """An accepted submit: the upstream's task id, and how many tasks wait ahead of it."""

    upstream_id: str
    queued: int | None = None


class Provider(Protocol):
    """One upstream family (Midjourney, Suno, a video API): submits and polls its tasks."""

    name: str
    batch_size: int

    async def submit(self, job: Job) -> Submitted:
        """Start the task upstream; raise UpstreamError to refuse."""
        ...

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        """States of the given tasks; ids the upstream does not know are left out."""
        ...


class AnswersInput(Protocol):
    """A provider whose tasks may wait for the member's input (status ``awaiting``)."""

    async def answer(self, job: Job, text: str) -> Submitted:
        """Give the waiting task its input; raise UpstreamError to refuse. The task then runs
        under the returned id (usually the same one)."""
        ...


class Presenter(Protocol):
    """Shows jobs in Discord; implemented by the cogs, one per job kind family."""

    async def progress(self, job: Job, state: TaskState) -> None:
        """Show a running job; for an ``awaiting`` state, also how the member gives the input.
        Only providers that implement ``AnswersInput`` report ``awaiting``."""
        ...

    async def deliver(self, job: Job) -> None:
        """Show a finished job (success or failure). Must be idempotent: it may run twice."""
        ...


@dataclass(slots=True)
class NewJob:
    key: str
    kind: str
    provider: str
    guild_id: int
    channel_id: int
    user_id: int
    request: dict[str, Any]
    price: int
    deadline_minutes: float
    locale: str = "en-US"
    message_id: int | None = None
    parent_id: int | None = None
    command: str = ""
    # For the spending gate: the slash command cooldowns apply to, the member's roles (daily
    # caps by role) and the text moderation checks when the guild turned it on.
    cooldown: str = ""
    role_ids: tuple[int, ...] = ()
    prompt: str = ""
