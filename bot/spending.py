"""The one gate every paid action passes: the member's request rate, moderation, then
what the member has running, cooldown, daily cap, balance, and the hold.

What runs, the cooldown, the cap and the hold are checked and taken in one transaction that
first locks the guild's account row, so fifty concurrent commands by one member cannot slip past
the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.background import Background
from bot.db import (
    Cooldown,
    CooldownMark,
    Database,
    GuildAccount,
    GuildSettings,
    HoldRow,
    SpendLimit,
    insert_ignore,
    table,
    utcnow,
)
from bot.errors import DailyCapReached, OnCooldown, PromptFlagged, TooManyRunning, UpstreamError
from bot.ledger import Hold, Ledger
from bot.member_limits import MemberLimiter
from bot.upstream.moderation import ModerationClient

log = logging.getLogger(__name__)

ACCOUNTS = table(GuildAccount)
HOLDS = table(HoldRow)
LIMITS = table(SpendLimit)
COOLDOWNS = table(Cooldown)
MARKS = table(CooldownMark)
SETTINGS = table(GuildSettings)

LowBalanceHook = Callable[[int, int, int, int], Awaitable[None]]  # guild, channel, balance, limit
FlaggedHook = Callable[[int, int, int, str, list[str]], Awaitable[None]]  # guild, channel, user…


@dataclass(frozen=True, slots=True)
class SpendRequest:
    guild_id: int
    user_id: int
    amount: int
    key: str
    command: str  # what the ledger records, e.g. "gpt:gpt-4o" or "mj_upscale"
    cooldown: str  # the slash command cooldowns are set for: gpt, imagine, song, video
    role_ids: Sequence[int] = field(default_factory=tuple)


def day_start(now: datetime) -> datetime:
    """Daily caps reset at midnight UTC."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_expression():  # type: ignore[no-untyped-def]
    """What a hold costs so far: all of it while open, what was charged once settled."""
    return func.coalesce(
        func.sum(
            case(
                (HOLDS.c.status == "open", HOLDS.c.amount),
                (HOLDS.c.status == "settled", HOLDS.c.actual),
                else_=0,
            )
        ),
        0,
    )


class Spending:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        moderation: ModerationClient,
        clock: Callable[[], datetime] = utcnow,
        limiter: MemberLimiter | None = None,
        background: Background | None = None,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.moderation = moderation
        self._clock = clock
        # None (tests of the ledger rules, benchmarks): no built-in per-member limit.
        self.limiter = limiter
        self.on_low_balance: LowBalanceHook | None = None
        self.on_flagged: FlaggedHook | None = None
        # The hooks post to other channels: off the member's path (see bot/background.py).
        self.background = background or Background()
        # Guilds whose balance check is queued and not started: one check covers them all.
        self._checks_queued: set[int] = set()

    # ---- before anything is held -------------------------------------------------------------

    async def admit(self, guild_id: int, user_id: int, channel_id: int, prompt: str) -> None:
        """Before anything is held or sent: count the member's request against the built-in
        rate (raises TooManyRequests), then refuse a prompt the upstream flags, when the guild
        turned moderation on. Called once per paid action, whatever started it."""
        if self.limiter is not None:
            self.limiter.admit(guild_id, user_id)
        if not prompt.strip():
            return
        async with self.db.read() as conn:
            enabled = await conn.scalar(
                select(SETTINGS.c.moderation).where(SETTINGS.c.guild_id == guild_id)
            )
        if not enabled:
            return
        try:
            result = await self.moderation.check(prompt)
        except UpstreamError as exc:
            # Fail closed: a guild that asked for moderation gets none of the unchecked.
            log.warning("moderation unavailable for guild %s: %s", guild_id, exc)
            raise
        if result.flagged:
            categories = ", ".join(result.categories) or "?"
            if self.on_flagged is not None:
                self.background.spawn(
                    self.on_flagged(guild_id, channel_id, user_id, prompt, result.categories),
                    f"flagged-log-{guild_id}",
                )
            raise PromptFlagged("flagged prompt", categories=categories)

    # ---- the hold ----------------------------------------------------------------------------

    async def hold(self, request: SpendRequest) -> Hold:
        existing = await self.ledger.get_hold(request.key)
        if existing is not None:
            return existing
        try:
            async with self.db.transaction() as conn:
                hold = await self.hold_in(conn, request)
        except IntegrityError:
            # The same key replayed concurrently: the first hold stands, nothing moves twice.
            replayed = await self.ledger.get_hold(request.key)
            if replayed is None:
                raise
            return replayed
        self.balance_changed(request.guild_id)
        return hold

    async def hold_in(self, conn: AsyncConnection, request: SpendRequest) -> Hold:
        """Cooldown, daily cap, balance and hold inside the caller's transaction.

        Call ``balance_changed`` once the transaction has committed.
        """
        now = self._clock()
        await self.ledger.ensure_in(conn, request.guild_id)
        # Serialise this guild's holds (PostgreSQL); SQLite's single writer already does.
        await conn.execute(
            select(ACCOUNTS.c.balance)
            .where(ACCOUNTS.c.guild_id == request.guild_id)
            .with_for_update()
        )
        await self._check_running(conn, request)
        await self._check_cooldown(conn, request, now)
        await self._check_cap(conn, request, now)
        hold = await self.ledger.hold_in(
            conn,
            request.guild_id,
            request.user_id,
            request.amount,
            key=request.key,
            command=request.command,
        )
        await self._mark_cooldown(conn, request, now)
        return hold

    async def _check_running(self, conn: AsyncConnection, request: SpendRequest) -> None:
        """Refuse a member who has ``limits.concurrent`` paid answers or jobs going already.

        Open holds are what runs: a streaming answer's or a job's, until it settles or is
        refunded. Counted in the database, so it holds across processes and restarts."""
        limit = self.limiter.config.concurrent if self.limiter is not None else 0
        if limit == 0:
            return
        running = await conn.scalar(
            select(func.count()).where(
                HOLDS.c.guild_id == request.guild_id,
                HOLDS.c.user_id == request.user_id,
                HOLDS.c.status == "open",
            )
        )
        if (running or 0) >= limit:
            raise TooManyRunning("running", running=running)

    async def _check_cooldown(
        self, conn: AsyncConnection, request: SpendRequest, now: datetime
    ) -> None:
        seconds = await conn.scalar(
            select(COOLDOWNS.c.seconds).where(
                COOLDOWNS.c.guild_id == request.guild_id, COOLDOWNS.c.command == request.cooldown
            )
        )
        if not seconds:
            return
        last = await conn.scalar(
            select(MARKS.c.last_at).where(
                MARKS.c.guild_id == request.guild_id,
                MARKS.c.user_id == request.user_id,
                MARKS.c.command == request.cooldown,
            )
        )
        if last is None:
            return
        last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
        wait = (last + timedelta(seconds=seconds) - now).total_seconds()
        if wait > 0:
            raise OnCooldown("cooldown", command=request.cooldown, seconds=max(1, round(wait)))

    async def _mark_cooldown(
        self, conn: AsyncConnection, request: SpendRequest, now: datetime
    ) -> None:
        values = {
            "guild_id": request.guild_id,
            "user_id": request.user_id,
            "command": request.cooldown,
            "last_at": now,
        }
        if not await insert_ignore(conn, CooldownMark, values):
            await conn.execute(
                update(MARKS)
                .where(
                    MARKS.c.guild_id == request.guild_id,
                    MARKS.c.user_id == request.user_id,
                    MARKS.c.command == request.cooldown,
                )
                .values(last_at=now)
            )

    async def daily_cap(
        self, conn: AsyncConnection, guild_id: int, user_id: int, role_ids: Sequence[int]
    ) -> int | None:
        member = (LIMITS.c.target_type == "member") & (LIMITS.c.target_id == user_id)
        roles = (LIMITS.c.target_type == "role") & LIMITS.c.target_id.in_(list(role_ids) or [-1])
        return await conn.scalar(
            select(func.min(LIMITS.c.daily_cap)).where(
                LIMITS.c.guild_id == guild_id, member | roles
            )
        )

    async def spent_since(
        self, conn: AsyncConnection, guild_id: int, user_id: int, since: datetime
    ) -> int:
        value = await conn.scalar(
            select(spent_expression()).where(
                HOLDS.c.guild_id == guild_id,
                HOLDS.c.user_id == user_id,
                HOLDS.c.created_at >= since,
            )
        )
        return int(value or 0)

    async def _check_cap(self, conn: AsyncConnection, request: SpendRequest, now: datetime) -> None:
        cap = await self.daily_cap(conn, request.guild_id, request.user_id, request.role_ids)
        if cap is None:
            return
        spent = await self.spent_since(conn, request.guild_id, request.user_id, day_start(now))
        if spent + request.amount > cap:
            raise DailyCapReached("daily cap", cap=cap, spent=spent, needed=request.amount)

    # ---- after money moved -------------------------------------------------------------------

    def balance_changed(self, guild_id: int) -> None:
        """Post the low-balance notice once when the balance first falls below the threshold.

        In the background: the caller (a command that just moved credit) neither waits for the
        check and the post nor fails with them. A check still queued for the guild covers this
        change too: it reads the balance when it starts. Without a hook (the ledger's own tests
        and benchmarks, no Credit cog) nobody would post: nothing is checked."""
        if self.on_low_balance is None or guild_id in self._checks_queued:
            return
        self._checks_queued.add(guild_id)
        self.background.spawn(self._check_balance(guild_id), f"balance-check-{guild_id}")

    async def _check_balance(self, guild_id: int) -> None:
        self._checks_queued.discard(guild_id)
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(SETTINGS.c.alert_channel_id, SETTINGS.c.alert_threshold).where(
                        SETTINGS.c.guild_id == guild_id
                    )
                )
            ).one_or_none()
        if row is None or row.alert_channel_id is None or row.alert_threshold is None:
            return  # the common case costs one read, no write transaction
        balance = await self.ledger.balance(guild_id)
        below = balance < row.alert_threshold
        async with self.db.transaction() as conn:
            # Flip the flag only if it is not already right; re-armed after a top-up.
            flipped = await conn.execute(
                update(SETTINGS)
                .where(SETTINGS.c.guild_id == guild_id, SETTINGS.c.alert_sent.is_not(below))
                .values(alert_sent=below)
            )
        if below and flipped.rowcount == 1 and self.on_low_balance is not None:  # type: ignore[attr-defined]
            await self.on_low_balance(guild_id, row.alert_channel_id, balance, row.alert_threshold)
