"""The guild's shared catalog of custom GPTs, and its default GPT or model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database, GuildSettings, SharedGPT, insert_ignore, table, utcnow
from bot.errors import AtelierError

GPTS = table(SharedGPT)
SETTINGS = table(GuildSettings)

# A gizmo id as typed, inside a model name (gpt-4-gizmo-g-…), or in a chatgpt.com/g/ link whose
# slug follows the id after a dash.
_GIZMO = re.compile(r"(?:^|[/\s]|gizmo-)(g-[A-Za-z0-9]{5,40})(?=$|[-/?#\s])")


class InvalidGPTId(AtelierError):
    key = "gpts.invalid_id"


class GPTNotFound(AtelierError):
    key = "gpts.not_found"


class GPTAlreadyShared(AtelierError):
    key = "gpts.already_shared"


def parse_gizmo_id(text: str) -> str:
    """``g-XXXX`` from an id, a model name or a chatgpt.com/g/… link; raises InvalidGPTId."""
    match = _GIZMO.search(text.strip())
    if match is None:
        raise InvalidGPTId(f"not a GPT id: {text[:80]!r}", value=text[:80])
    return match.group(1)


@dataclass(frozen=True, slots=True)
class GPTEntry:
    gizmo_id: str
    name: str
    description: str = ""
    author: str = ""
    avatar_url: str | None = None
    starters: tuple[str, ...] = field(default_factory=tuple)
    added_by: int = 0
    uses: int = 0


def _entry(r: Any) -> GPTEntry:
    return GPTEntry(
        gizmo_id=r.gizmo_id,
        name=r.name,
        description=r.description or "",
        author=r.author or "",
        avatar_url=r.avatar_url,
        starters=tuple(json.loads(r.starters or "[]")),
        added_by=r.added_by,
        uses=r.uses,
    )


class GPTCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, guild_id: int, entry: GPTEntry) -> GPTEntry:
        values = {
            "guild_id": guild_id,
            "gizmo_id": entry.gizmo_id,
            "name": entry.name[:200],
            "description": entry.description[:4000],
            "author": entry.author[:200],
            "avatar_url": entry.avatar_url,
            "starters": json.dumps(list(entry.starters[:8]), ensure_ascii=False),
            "added_by": entry.added_by,
            "uses": 0,
            "created_at": utcnow(),
        }
        try:
            async with self.db.transaction() as conn:
                await conn.execute(GPTS.insert().values(**values))
        except IntegrityError:
            raise GPTAlreadyShared(entry.gizmo_id, name=entry.name) from None
        return entry

    async def list(self, guild_id: int) -> list[GPTEntry]:
        """Most used first."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(GPTS)
                .where(GPTS.c.guild_id == guild_id)
                .order_by(GPTS.c.uses.desc(), GPTS.c.name)
            )
            return [_entry(r) for r in rows]

    async def find(self, guild_id: int, query: str) -> GPTEntry:
        """By gizmo id, link, or name (case-insensitive); raises GPTNotFound."""
        try:
            condition = GPTS.c.gizmo_id == parse_gizmo_id(query)
        except InvalidGPTId:
            condition = func.lower(GPTS.c.name) == query.strip().lower()
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(GPTS).where(GPTS.c.guild_id == guild_id, condition))
            ).first()
        if row is None:
            raise GPTNotFound(query, query=query[:100])
        return _entry(row)

    async def remove(self, guild_id: int, gizmo_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                delete(GPTS).where(GPTS.c.guild_id == guild_id, GPTS.c.gizmo_id == gizmo_id)
            )
            await conn.execute(
                update(SETTINGS)
                .where(SETTINGS.c.guild_id == guild_id, SETTINGS.c.default_gpt == gizmo_id)
                .values(default_gpt=None)
            )

    async def record_use(self, guild_id: int, gizmo_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                update(GPTS)
                .where(GPTS.c.guild_id == guild_id, GPTS.c.gizmo_id == gizmo_id)
                .values(uses=GPTS.c.uses + 1)
            )

    async def set_default(self, guild_id: int, gizmo_id: str | None) -> None:
        async with self.db.transaction() as conn:
            await insert_ignore(conn, GuildSettings, {"guild_id": guild_id})
            await conn.execute(
                update(SETTINGS).where(SETTINGS.c.guild_id == guild_id).values(default_gpt=gizmo_id)
            )

    async def default(self, guild_id: int) -> str | None:
        async with self.db.read() as conn:
            return await conn.scalar(
                select(SETTINGS.c.default_gpt).where(SETTINGS.c.guild_id == guild_id)
            )
