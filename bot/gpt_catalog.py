"""The guild's shared catalog of custom GPTs, and its default GPT or model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database, GuildSettings, SharedGPT, insert_ignore, table, utcnow
from bot.errors import AtelierError

GPTS = table(SharedGPT)
SETTINGS = table(GuildSettings)
# Keeps a name well inside the embed title limit (256).
NAME_LIMIT = 200

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
        """Share ``entry`` in the guild and return it as stored (long fields cut to size).

        Raises GPTAlreadyShared, naming the GPT as the guild already knows it.
        """
        stored = replace(
            entry,
            name=entry.name[:NAME_LIMIT],
            description=entry.description[:4000],
            author=entry.author[:200],
            starters=entry.starters[:8],
            uses=0,
        )
        values = {
            "guild_id": guild_id,
            "gizmo_id": stored.gizmo_id,
            "name": stored.name,
            "description": stored.description,
            "author": stored.author,
            "avatar_url": stored.avatar_url,
            "starters": json.dumps(list(stored.starters), ensure_ascii=False),
            "added_by": stored.added_by,
            "uses": 0,
            "created_at": utcnow(),
        }
        try:
            async with self.db.transaction() as conn:
                await conn.execute(GPTS.insert().values(**values))
        except IntegrityError:
            existing = await self.get(guild_id, stored.gizmo_id)
            name = existing.name if existing is not None else stored.name
            raise GPTAlreadyShared(stored.gizmo_id, name=name) from None
        return stored

    async def get(self, guild_id: int, gizmo_id: str) -> GPTEntry | None:
        """The shared GPT with this exact id, or None."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(GPTS).where(GPTS.c.guild_id == guild_id, GPTS.c.gizmo_id == gizmo_id)
                )
            ).first()
        return None if row is None else _entry(row)

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
            found = await self.get(guild_id, parse_gizmo_id(query))
        except InvalidGPTId:
            # Names are compared in Python: SQLite's lower() folds ASCII only ("Über" ≠ "über").
            wanted = query.strip().casefold()
            found = next(
                (e for e in await self.list(guild_id) if e.name.casefold() == wanted), None
            )
        if found is None:
            raise GPTNotFound(query, query=query[:100])
        return found

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
