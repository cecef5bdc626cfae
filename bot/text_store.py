"""Texts a persistent button reads back later (an answer's reasoning, an answer to read aloud).

The button's custom_id names the row, so the button works after a restart; a row is only
given to a press in the guild that stored it.
"""

from __future__ import annotations

from sqlalchemy import Table, select

from bot.db import Database


class TextStore:
    def __init__(self, db: Database, rows: Table) -> None:
        self.db = db
        self.rows = rows

    async def save(self, guild_id: int, text: str) -> int:
        async with self.db.transaction() as conn:
            result = await conn.execute(
                self.rows.insert().values(guild_id=guild_id, text=text).returning(self.rows.c.id)
            )
            return int(result.scalar_one())

    async def get(self, row_id: int, guild_id: int) -> str | None:
        """The text, only for a button in the guild that stored it."""
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    select(self.rows.c.text).where(
                        self.rows.c.id == row_id, self.rows.c.guild_id == guild_id
                    )
                )
            ).scalar_one_or_none()
