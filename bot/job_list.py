"""Read-only list of jobs for /jobs: a member's or a server's, newest first, with what each cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bot.db import Database, HoldRow, JobRow, table

JOBS = table(JobRow)
HOLDS = table(HoldRow)


@dataclass(frozen=True, slots=True)
class JobLine:
    id: int
    created_at: datetime
    user_id: int
    kind: str  # the command it was paid as (``video:kling-v1``), or the job's kind
    status: str
    channel_id: int
    message_id: int | None
    hold_status: str | None  # open, settled, released, refunded; None: nothing was held
    cost: int  # credits moved: held while open, charged once settled, 0 once given back

    def link(self, guild_id: int) -> str | None:
        if not self.message_id:
            return None
        return f"https://discord.com/channels/{guild_id}/{self.channel_id}/{self.message_id}"


def _cost(status: str | None, amount: int | None, actual: int | None) -> int:
    if status == "open":
        return int(amount or 0)
    if status == "settled":
        return int(actual if actual is not None else amount or 0)
    return 0


async def job_page(
    db: Database, guild_id: int, user_id: int | None, offset: int, limit: int
) -> tuple[list[JobLine], int]:
    """One page of the server's jobs (only ``user_id``'s when given) and how many there are."""
    where = [JOBS.c.guild_id == guild_id]
    if user_id is not None:
        where.append(JOBS.c.user_id == user_id)
    joined = JOBS.outerjoin(HOLDS, HOLDS.c.id == JOBS.c.hold_id)
    async with db.read() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(JOBS).where(*where)) or 0)
        rows = await conn.execute(
            select(
                JOBS.c.id,
                JOBS.c.created_at,
                JOBS.c.user_id,
                JOBS.c.kind,
                JOBS.c.status,
                JOBS.c.channel_id,
                JOBS.c.message_id,
                HOLDS.c.command,
                HOLDS.c.status.label("hold_status"),
                HOLDS.c.amount,
                HOLDS.c.actual,
            )
            .select_from(joined)
            .where(*where)
            .order_by(JOBS.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        lines = [
            JobLine(
                r.id,
                r.created_at,
                r.user_id,
                r.command or r.kind,
                r.status,
                r.channel_id,
                r.message_id,
                r.hold_status,
                _cost(r.hold_status, r.amount, r.actual),
            )
            for r in rows
        ]
    return lines, total
