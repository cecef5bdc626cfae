"""Guild spending policies admins set: daily caps, cooldowns, low-balance alert, moderation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from bot.db import Cooldown, Database, GuildSettings, SpendLimit, insert_ignore, table
from bot.reasoning import DEFAULT_REASONING_MODE, REASONING_MODES

LIMITS = table(SpendLimit)
COOLDOWNS = table(Cooldown)
SETTINGS = table(GuildSettings)


@dataclass(frozen=True, slots=True)
class GuildPolicies:
    limits: list[tuple[str, int, int]]  # (member|role, id, daily cap)
    cooldowns: dict[str, int]
    alert_channel_id: int | None
    alert_threshold: int | None
    moderation: bool
    log_channel_id: int | None


class Policies:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_limit(self, guild_id: int, target_type: str, target_id: int, cap: int) -> None:
        async with self.db.transaction() as conn:
            values = {
                "guild_id": guild_id,
                "target_type": target_type,
                "target_id": target_id,
                "daily_cap": cap,
            }
            if not await insert_ignore(conn, SpendLimit, values):
                await conn.execute(
                    update(LIMITS)
                    .where(
                        LIMITS.c.guild_id == guild_id,
                        LIMITS.c.target_type == target_type,
                        LIMITS.c.target_id == target_id,
                    )
                    .values(daily_cap=cap)
                )

    async def clear_limits(self, guild_id: int, target_id: int | None = None) -> int:
        """Remove one target's cap, or every cap of the guild; returns how many went."""
        condition = LIMITS.c.guild_id == guild_id
        if target_id is not None:
            condition = condition & (LIMITS.c.target_id == target_id)
        async with self.db.transaction() as conn:
            result = await conn.execute(delete(LIMITS).where(condition))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def set_cooldown(self, guild_id: int, command: str, seconds: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                delete(COOLDOWNS).where(
                    COOLDOWNS.c.guild_id == guild_id, COOLDOWNS.c.command == command
                )
            )
            if seconds > 0:
                await conn.execute(
                    COOLDOWNS.insert().values(guild_id=guild_id, command=command, seconds=seconds)
                )

    async def _settings(self, guild_id: int, **values: object) -> None:
        async with self.db.transaction() as conn:
            await insert_ignore(conn, GuildSettings, {"guild_id": guild_id})
            await conn.execute(
                update(SETTINGS).where(SETTINGS.c.guild_id == guild_id).values(**values)
            )

    async def set_alert(self, guild_id: int, channel_id: int | None, threshold: int | None) -> None:
        await self._settings(
            guild_id, alert_channel_id=channel_id, alert_threshold=threshold, alert_sent=False
        )

    async def set_moderation(
        self, guild_id: int, enabled: bool, log_channel_id: int | None
    ) -> None:
        await self._settings(guild_id, moderation=enabled, log_channel_id=log_channel_id)

    async def set_reasoning_mode(self, guild_id: int, mode: str) -> None:
        await self._settings(guild_id, reasoning_mode=mode)

    async def reasoning_mode(self, guild_id: int) -> str:
        async with self.db.read() as conn:
            mode = (
                await conn.execute(
                    select(SETTINGS.c.reasoning_mode).where(SETTINGS.c.guild_id == guild_id)
                )
            ).scalar_one_or_none()
        return mode if mode in REASONING_MODES else DEFAULT_REASONING_MODE

    async def get(self, guild_id: int) -> GuildPolicies:
        async with self.db.read() as conn:
            limits = [
                (r.target_type, int(r.target_id), int(r.daily_cap))
                for r in await conn.execute(select(LIMITS).where(LIMITS.c.guild_id == guild_id))
            ]
            cooldowns = {
                r.command: int(r.seconds)
                for r in await conn.execute(
                    select(COOLDOWNS).where(COOLDOWNS.c.guild_id == guild_id)
                )
            }
            row = (
                await conn.execute(select(SETTINGS).where(SETTINGS.c.guild_id == guild_id))
            ).one_or_none()
        return GuildPolicies(
            limits=limits,
            cooldowns=cooldowns,
            alert_channel_id=row.alert_channel_id if row else None,
            alert_threshold=row.alert_threshold if row else None,
            moderation=bool(row.moderation) if row else False,
            log_channel_id=row.log_channel_id if row else None,
        )
