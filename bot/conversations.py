"""Conversations that continue in threads: who said what, kept in the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import Conversation, ConversationTurn, Database, table, utcnow

CONVERSATIONS = table(Conversation)
TURNS = table(ConversationTurn)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    content: str
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    id: int
    guild_id: int
    channel_id: int
    model: str
    label: str
    created_by: int


def trim_history(turns: list[Turn], budget_chars: int) -> list[Turn]:
    """The newest turns whose text fits the budget; the newest one is always kept."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += len(turn.content)
        if kept and used > budget_chars:
            break
        kept.append(turn)
    return kept[::-1]


@dataclass(slots=True)
class _Turns:
    """The lock one thread's replies take turns on, and how many replies hold or await it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._turns: dict[int, _Turns] = {}

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, channel_id: int) -> AsyncIterator[None]:
        """Hold while one reply in the thread ``channel_id`` reads the history, answers and is
        saved; the next waits, so it starts from a history that has the reply before it.

        Waiters go in the order they asked (asyncio.Lock is fair), which is the order the
        messages arrived when callers ask before their first await. In memory: Discord sends
        a guild's messages to one shard, so one thread's messages all come to one process.
        """
        turns = self._turns.setdefault(channel_id, _Turns())
        turns.users += 1
        try:
            async with turns.lock:
                yield
        finally:
            turns.users -= 1
            if turns.users == 0:
                del self._turns[channel_id]  # idle threads leave nothing behind

    async def start(
        self,
        *,
        guild_id: int,
        channel_id: int,
        model: str,
        label: str,
        created_by: int,
        turns: list[Turn],
    ) -> ConversationInfo:
        async with self.db.transaction() as conn:
            result = await conn.execute(
                CONVERSATIONS.insert()
                .values(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    model=model,
                    label=label,
                    created_by=created_by,
                    created_at=utcnow(),
                )
                .returning(CONVERSATIONS.c.id)
            )
            conversation_id = int(result.scalar_one())
            await self._insert_turns(conn, conversation_id, turns)
        return ConversationInfo(conversation_id, guild_id, channel_id, model, label, created_by)

    async def by_channel(self, channel_id: int) -> ConversationInfo | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(CONVERSATIONS).where(CONVERSATIONS.c.channel_id == channel_id)
                )
            ).one_or_none()
        if row is None:
            return None
        return ConversationInfo(
            row.id, row.guild_id, row.channel_id, row.model, row.label, row.created_by
        )

    async def add_turns(self, conversation_id: int, turns: list[Turn]) -> None:
        async with self.db.transaction() as conn:
            await self._insert_turns(conn, conversation_id, turns)

    async def turns(self, conversation_id: int) -> list[Turn]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(TURNS.c.role, TURNS.c.content, TURNS.c.user_id)
                .where(TURNS.c.conversation_id == conversation_id)
                .order_by(TURNS.c.id)
            )
            return [Turn(r.role, r.content, r.user_id) for r in rows]

    @staticmethod
    async def _insert_turns(conn: AsyncConnection, conversation_id: int, turns: list[Turn]) -> None:
        if not turns:
            return
        await conn.execute(
            TURNS.insert(),
            [
                {
                    "conversation_id": conversation_id,
                    "role": t.role,
                    "content": t.content,
                    "user_id": t.user_id,
                    "created_at": utcnow(),
                }
                for t in turns
            ],
        )
