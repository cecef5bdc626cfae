"""Read-only views of the ledger: history pages, spend by member/command/model, CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.db import Database, GuildAccount, HoldRow, LedgerEntry, table, utcnow
from bot.spending import day_start, spent_expression

LEDGER = table(LedgerEntry)
HOLDS = table(HoldRow)
ACCOUNTS = table(GuildAccount)


@dataclass(frozen=True, slots=True)
class LedgerLine:
    id: int
    created_at: datetime
    user_id: int | None
    kind: str
    amount: int
    command: str | None
    key: str
    note: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    days: int
    total: int
    by_member: list[tuple[int | None, int]]
    by_command: list[tuple[str, int]]
    by_model: list[tuple[str, int]]
    by_day: list[tuple[str, int]]  # (YYYY-MM-DD, spend), oldest first, every day present


def command_name(command: str | None) -> str:
    """``gpt:gpt-4o`` → ``gpt``; ``mj_upscale`` → ``mj_upscale``."""
    return (command or "?").split(":", 1)[0]


def model_name(command: str | None) -> str:
    return (command or "?").split(":", 1)[1] if ":" in (command or "") else (command or "?")


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def history(
        self,
        guild_id: int,
        *,
        user_id: int | None = None,
        kind: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> tuple[list[LedgerLine], int]:
        """One page of ledger rows, newest first, and how many rows match in all."""
        where = [LEDGER.c.guild_id == guild_id]
        if user_id is not None:
            where.append(LEDGER.c.user_id == user_id)
        if kind:
            where.append(LEDGER.c.kind == kind)
        async with self.db.read() as conn:
            total = int(await conn.scalar(select(func.count()).where(*where)) or 0)
            rows = await conn.execute(
                select(LEDGER)
                .where(*where)
                .order_by(LEDGER.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            lines = [
                LedgerLine(
                    r.id, r.created_at, r.user_id, r.kind, r.amount, r.command, r.key, r.note
                )
                for r in rows
            ]
        return lines, total

    async def member_spend(self, guild_id: int, user_id: int) -> tuple[int, int]:
        """(today, this month) in credits, by UTC calendar."""
        now = utcnow()
        today = day_start(now)
        month = today.replace(day=1)
        async with self.db.read() as conn:
            values = []
            for since in (today, month):
                value = await conn.scalar(
                    select(spent_expression()).where(
                        HOLDS.c.guild_id == guild_id,
                        HOLDS.c.user_id == user_id,
                        HOLDS.c.created_at >= since,
                    )
                )
                values.append(int(value or 0))
        return values[0], values[1]

    async def usage(self, guild_id: int, days: int) -> Usage:
        since = day_start(utcnow()) - timedelta(days=days - 1)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        HOLDS.c.user_id,
                        HOLDS.c.command,
                        HOLDS.c.status,
                        HOLDS.c.amount,
                        HOLDS.c.actual,
                        HOLDS.c.created_at,
                    ).where(HOLDS.c.guild_id == guild_id, HOLDS.c.created_at >= since)
                )
            ).all()
        by_member: dict[int | None, int] = {}
        by_command: dict[str, int] = {}
        by_model: dict[str, int] = {}
        by_day = {(since + timedelta(days=d)).strftime("%Y-%m-%d"): 0 for d in range(days)}
        for row in rows:
            spent = row.amount if row.status == "open" else (row.actual or 0)
            if row.status == "refunded" or not spent:
                continue
            by_member[row.user_id] = by_member.get(row.user_id, 0) + spent
            by_command[command_name(row.command)] = (
                by_command.get(command_name(row.command), 0) + spent
            )
            by_model[model_name(row.command)] = by_model.get(model_name(row.command), 0) + spent
            day = row.created_at.strftime("%Y-%m-%d")
            if day in by_day:
                by_day[day] += spent

        def ranked(values: dict) -> list:  # type: ignore[type-arg]
            return sorted(values.items(), key=lambda item: (-item[1], str(item[0])))

        return Usage(
            days=days,
            total=sum(by_member.values()),
            by_member=ranked(by_member),
            by_command=ranked(by_command),
            by_model=ranked(by_model),
            by_day=list(by_day.items()),
        )

    async def export_csv(self, guild_id: int) -> str:
        """Every ledger row of the guild, oldest first."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "time", "user_id", "kind", "amount", "command", "key", "note"])
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(LEDGER).where(LEDGER.c.guild_id == guild_id).order_by(LEDGER.c.id)
            )
            for r in rows:
                writer.writerow(
                    [
                        r.id,
                        r.created_at.isoformat(),
                        r.user_id or "",
                        r.kind,
                        r.amount,
                        r.command or "",
                        r.key,
                        r.note or "",
                    ]
                )
        return out.getvalue()

    async def guild_balances(self) -> list[tuple[int, int]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(ACCOUNTS.c.guild_id, ACCOUNTS.c.balance).order_by(ACCOUNTS.c.guild_id)
            )
            return [(int(r.guild_id), int(r.balance)) for r in rows]
