"""The one gate every paid action passes: the member's request rate, moderation, then
what the member has running, cooldown, daily cap, balance, and the hold.

What runs, the cooldown, the cap and the hold are checked and taken in one transaction that
first locks the guild's account row, so fifty concurrent commands by one member cannot slip past
the cap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.engine import Connection
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
    insert_ignore_now,
    table,
    utcnow,
)
from bot.errors import (
    AtelierError,
    DailyCapReached,
    OnCooldown,
    PromptFlagged,
    TooManyRunning,
    UpstreamError,
)
from bot.ledger import Hold, Ledger
from bot.ledger_sql import run
from bot.member_limits import MemberLimiter
from bot.spending_sql import (
    COUNTED,
    DAILY_CAP,
    GATED,
    LOCK_ACCOUNT,
    POLICY,
    POLICY_SQLITE,
    RUNNING,
)
from bot.upstream.moderation import ModerationClient

log = logging.getLogger(__name__)

# How long a guild's low-balance alert setting is trusted before it is read again. Only
# ``/credit alert`` changes it, and it calls ``alert_changed``; another process's change is seen
# within this time.
ALERT_CACHE_SECONDS = 30.0


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
        self._alerts: dict[int, tuple[float, _Alert | None]] = {}
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
            await self.limiter.admit(guild_id, user_id)
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
        """Take the hold in one transaction (one hop to SQLite's writer); a replayed key returns
        the first hold and moves nothing."""
        now = self._clock()
        limit = self.limiter.config.concurrent if self.limiter is not None else 0
        policy = self._cap_params(request.guild_id, request.user_id, request.role_ids)
        if limit:
            policy["running"] = limit
        hold = await self.ledger.hold_at_once(
            COUNTED if limit else GATED, request.guild_id, request.user_id,
            request.amount, key=request.key, command=request.command,
            cooldown=request.cooldown, **policy,
        )  # fmt: skip
        if hold is None:
            hold = await self.ledger.write(
                request.guild_id, lambda conn: self.hold_now(conn, request, now)
            )
        self.balance_changed(request.guild_id)
        return hold

    def hold_now(self, conn: Connection, request: SpendRequest, now: datetime) -> Hold:
        self.ledger.ensure_now(conn, request.guild_id)
        limit = self.limiter.config.concurrent if self.limiter is not None else 0
        params = {**self._cap_params(request.guild_id, request.user_id, request.role_ids),
                  "cooldown": request.cooldown}  # fmt: skip
        if conn.dialect.name == "sqlite":
            params["roles"] = json.dumps(params["roles"])
            seconds, cap = run(conn, POLICY_SQLITE, params).fetchone()
        else:
            seconds, cap = conn.execute(POLICY, params).one()
        if limit or seconds or cap is not None:
            try:
                # Serialise this guild's holds (PostgreSQL); SQLite's single writer already does.
                if conn.dialect.name != "sqlite":
                    conn.execute(LOCK_ACCOUNT, {"guild": request.guild_id})
                self._check_running(conn, request, limit)
                self._check_cooldown(conn, request, now, seconds)
                self._check_cap(conn, request, now, cap)
            except AtelierError:
                # A replay of a hold already taken is not refused by the cooldown it set.
                replayed = conn.execute(select(HOLDS).where(HOLDS.c.key == request.key)).first()
                if replayed is None:
                    raise
                return Hold.from_row(replayed)
        hold, new = self.ledger.hold_now(
            conn,
            request.guild_id,
            request.user_id,
            request.amount,
            key=request.key,
            command=request.command,
        )
        if new and seconds:
            self._mark_cooldown(conn, request, now)
        return hold

    def _check_running(self, conn: Connection, request: SpendRequest, limit: int) -> None:
        """Refuse a member who has ``limits.concurrent`` paid answers or jobs going already.

        Open holds are what runs: a streaming answer's or a job's, until it settles or is
        refunded. Counted in the database, so it holds across processes and restarts."""
        if limit == 0:
            return
        (running,) = run(
            conn, RUNNING, {"guild": request.guild_id, "user": request.user_id}
        ).fetchone()
        if (running or 0) >= limit:
            raise TooManyRunning("running", running=running)

    def _check_cooldown(
        self, conn: Connection, request: SpendRequest, now: datetime, seconds: int | None
    ) -> None:
        if not seconds:
            return
        last = conn.scalar(
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

    def _mark_cooldown(self, conn: Connection, request: SpendRequest, now: datetime) -> None:
        """Only commands with a cooldown are marked: with none set there is nothing to wait
        for, and the hold path stays one statement shorter."""
        values = {
            "guild_id": request.guild_id,
            "user_id": request.user_id,
            "command": request.cooldown,
            "last_at": now,
        }
        if not insert_ignore_now(conn, CooldownMark, values):
            conn.execute(
                update(MARKS)
                .where(
                    MARKS.c.guild_id == request.guild_id,
                    MARKS.c.user_id == request.user_id,
                    MARKS.c.command == request.cooldown,
                )
                .values(last_at=now)
            )

    @staticmethod
    def _cap_params(guild_id: int, user_id: int, role_ids: Sequence[int]) -> dict[str, Any]:
        return {"guild": guild_id, "user": user_id, "roles": list(role_ids) or [-1]}

    async def daily_cap(
        self, conn: AsyncConnection, guild_id: int, user_id: int, role_ids: Sequence[int]
    ) -> int | None:
        return await conn.scalar(DAILY_CAP, self._cap_params(guild_id, user_id, role_ids))

    async def spent_since(
        self, conn: AsyncConnection, guild_id: int, user_id: int, since: datetime
    ) -> int:
        return await conn.run_sync(self._spent_now, guild_id, user_id, since)

    @staticmethod
    def _spent_now(conn: Connection, guild_id: int, user_id: int, since: datetime) -> int:
        value = conn.scalar(
            select(spent_expression()).where(
                HOLDS.c.guild_id == guild_id,
                HOLDS.c.user_id == user_id,
                HOLDS.c.created_at >= since,
            )
        )
        return int(value or 0)

    def _check_cap(
        self, conn: Connection, request: SpendRequest, now: datetime, cap: int | None
    ) -> None:
        if cap is None:
            return
        spent = self._spent_now(conn, request.guild_id, request.user_id, day_start(now))
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
        """The guild's alert setting is cached (``ALERT_CACHE_SECONDS``; ``alert_changed`` drops
        it at once), so a guild without an alert costs nothing here, and one with an alert a
        read of the balance and a write only when the flag must flip."""
        self._checks_queued.discard(guild_id)
        alert = await self._alert(guild_id)
        if alert is None:
            return
        balance = await self.ledger.balance(guild_id)
        below = balance < alert.threshold
        if below == alert.sent:
            return
        async with self.db.transaction() as conn:
            # Flip the flag only if it is not already right; re-armed after a top-up.
            flipped = await conn.execute(
                update(SETTINGS)
                .where(SETTINGS.c.guild_id == guild_id, SETTINGS.c.alert_sent.is_not(below))
                .values(alert_sent=below)
            )
        alert.sent = below
        if below and flipped.rowcount == 1 and self.on_low_balance is not None:  # type: ignore[attr-defined]
            await self.on_low_balance(guild_id, alert.channel_id, balance, alert.threshold)

    async def alert_changed(self, guild_id: int) -> None:
        """The guild's alert was set or cleared: forget the cached one, then check at once."""
        self._alerts.pop(guild_id, None)
        self.balance_changed(guild_id)

    async def _alert(self, guild_id: int) -> _Alert | None:
        cached = self._alerts.get(guild_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < ALERT_CACHE_SECONDS:
            return cached[1]
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        SETTINGS.c.alert_channel_id,
                        SETTINGS.c.alert_threshold,
                        SETTINGS.c.alert_sent,
                    ).where(SETTINGS.c.guild_id == guild_id)
                )
            ).one_or_none()
        alert = None
        if row is not None and row.alert_channel_id is not None and row.alert_threshold is not None:
            alert = _Alert(row.alert_channel_id, row.alert_threshold, bool(row.alert_sent))
        self._alerts[guild_id] = (now, alert)
        return alert


@dataclass(slots=True)
class _Alert:
    channel_id: int
    threshold: int
    sent: bool
