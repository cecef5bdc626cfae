"""The operator's check: every balance equals the sum of its ledger rows.

The sums are exact whatever the number of rows: the high and low 32 bits of the amounts are
summed apart and joined in Python, because SQLite's sum() fails with "integer overflow" once any
partial sum passes 2**63 - 1 (PostgreSQL's sum of a bigint is a numeric and would not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bot.db import Database, GuildAccount, LedgerEntry, table

ACCOUNTS = table(GuildAccount)
LEDGER = table(LedgerEntry)
_SPLIT = 2**32


@dataclass(frozen=True, slots=True)
class Discrepancy:
    guild_id: int
    balance: int | None  # None: ledger rows for a guild that has no account row
    ledger_sum: int


async def check_ledger(db: Database) -> list[Discrepancy]:
    """Every guild whose balance differs from the sum of its ledger rows, and every guild with
    ledger rows but no account row."""
    sums = (
        select(
            LEDGER.c.guild_id,
            func.sum(LEDGER.c.amount.op("/")(_SPLIT)).label("high"),
            func.sum(LEDGER.c.amount % _SPLIT).label("low"),
        )
        .group_by(LEDGER.c.guild_id)
        .subquery()
    )
    query = select(ACCOUNTS.c.guild_id, ACCOUNTS.c.balance, sums.c.high, sums.c.low).outerjoin(
        sums, sums.c.guild_id == ACCOUNTS.c.guild_id
    )
    # The foreign key forbids these, but a restore or a hand edit may have bypassed it.
    no_account = select(sums.c.guild_id, sums.c.high, sums.c.low).where(
        ~select(ACCOUNTS.c.guild_id).where(ACCOUNTS.c.guild_id == sums.c.guild_id).exists()
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
        orphans = (await conn.execute(no_account)).all()
    found = []
    for r in rows:
        # A balance some old build stored as a REAL is compared as the integer it names.
        balance = int(r.balance)
        if balance != _total(r):
            found.append(Discrepancy(r.guild_id, balance, _total(r)))
    found += [Discrepancy(r.guild_id, None, _total(r)) for r in orphans]
    return sorted(found, key=lambda d: d.guild_id)


def _total(row: Any) -> int:
    return int(row.high or 0) * _SPLIT + int(row.low or 0)
