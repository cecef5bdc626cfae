"""Guild credit: grants, holds, settles and refunds.

Every movement is one transaction that changes the balance and appends a ledger row, so a guild's
balance always equals the sum of its ledger rows. Every movement carries an idempotency key: a
replay of the same key (a retried interaction, a job resumed after a restart) moves nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import Database, GuildAccount, HoldRow, LedgerEntry, insert_ignore, table, utcnow
from bot.errors import InsufficientCredit, UnknownHold

log = logging.getLogger(__name__)

ACCOUNTS = table(GuildAccount)
HOLDS = table(HoldRow)
LEDGER = table(LedgerEntry)


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    guild_id: int
    user_id: int | None
    key: str
    command: str
    amount: int
    status: str
    actual: int | None

    @classmethod
    def from_row(cls, row: Any) -> Hold:
        return cls(
            id=row.id,
            guild_id=row.guild_id,
            user_id=row.user_id,
            key=row.key,
            command=row.command,
            amount=row.amount,
            status=row.status,
            actual=row.actual,
        )


@dataclass(frozen=True, slots=True)
class Discrepancy:
    guild_id: int
    balance: int | None  # None: ledger rows for a guild that has no account row
    ledger_sum: int


class Ledger:
    """The only writer of balances. Amounts are integer credits."""

    def __init__(self, db: Database, *, starting_balance: int) -> None:
        self.db = db
        self.starting_balance = starting_balance

    async def ensure_in(self, conn: AsyncConnection, guild_id: int) -> None:
        """Open the guild's account with the starting balance the first time it is seen."""
        created = await insert_ignore(
            conn,
            GuildAccount,
            {"guild_id": guild_id, "balance": self.starting_balance, "created_at": utcnow()},
        )
        if created:
            await self._append(
                conn, guild_id, None, "opening", self.starting_balance, f"opening:{guild_id}"
            )

    async def _append(
        self,
        conn: AsyncConnection,
        guild_id: int,
        user_id: int | None,
        kind: str,
        amount: int,
        key: str,
        *,
        command: str | None = None,
        hold_id: int | None = None,
        note: str | None = None,
    ) -> None:
        await conn.execute(
            LEDGER.insert().values(
                guild_id=guild_id,
                user_id=user_id,
                kind=kind,
                amount=amount,
                key=key,
                command=command,
                hold_id=hold_id,
                note=note,
                created_at=utcnow(),
            )
        )

    async def balance(self, guild_id: int) -> int:
        """The guild's balance; a guild seen for the first time gets the starting balance."""
        async with self.db.read() as conn:
            value = await conn.scalar(
                select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == guild_id)
            )
        if value is not None:
            return int(value)
        async with self.db.transaction() as conn:
            await self.ensure_in(conn, guild_id)
            return int(
                await conn.scalar(select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == guild_id))
            )

    async def grant(
        self,
        guild_id: int,
        amount: int,
        *,
        key: str,
        user_id: int | None = None,
        note: str | None = None,
    ) -> int:
        """Add (or with a negative amount, remove) credit; returns the new balance.

        A negative grant never takes the balance below zero: it fails with InsufficientCredit.
        """
        return await self._grant(guild_id, lambda _balance: amount, key, user_id, note)

    async def set_balance(
        self,
        guild_id: int,
        amount: int,
        *,
        key: str,
        user_id: int | None = None,
        note: str | None = None,
    ) -> int:
        """Make the balance exactly ``amount``; returns it.

        The difference is read and written in one transaction with the account row locked, so
        a hold or settle landing meanwhile cannot make the result miss ``amount``; the ledger
        row records the difference as a grant.
        """
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        return await self._grant(guild_id, lambda balance: amount - balance, key, user_id, note)

    async def _grant(
        self,
        guild_id: int,
        difference: Callable[[int], int],
        key: str,
        user_id: int | None,
        note: str | None,
    ) -> int:
        """One grant row of ``difference(balance)``, the balance read with the account row
        locked; a replayed key moves nothing. Returns the new balance."""
        try:
            async with self.db.transaction() as conn:
                await self.ensure_in(conn, guild_id)
                if not await self._key_used(conn, f"grant:{key}"):
                    amount = difference(await self._balance_in(conn, guild_id, lock=True))
                    await self._debit_or_credit(conn, guild_id, amount)
                    await self._append(
                        conn, guild_id, user_id, "grant", amount, f"grant:{key}", note=note
                    )
                return await self._balance_in(conn, guild_id)
        except IntegrityError:
            # A concurrent replay of the same key won the race; it moved the credit once.
            return await self.balance(guild_id)

    async def hold(
        self, guild_id: int, user_id: int | None, amount: int, *, key: str, command: str
    ) -> Hold:
        """Reserve ``amount`` before calling the upstream; raises InsufficientCredit.

        The debit is a single conditional UPDATE, so concurrent holds can never overdraw.
        """
        existing = await self.get_hold(key)
        if existing is not None:
            return existing
        try:
            async with self.db.transaction() as conn:
                return await self.hold_in(conn, guild_id, user_id, amount, key=key, command=command)
        except IntegrityError:
            hold = await self.get_hold(key)
            if hold is None:
                raise
            return hold

    async def hold_in(
        self,
        conn: AsyncConnection,
        guild_id: int,
        user_id: int | None,
        amount: int,
        *,
        key: str,
        command: str,
    ) -> Hold:
        """``hold`` inside the caller's transaction, so a job row and its hold commit together."""
        if amount < 0:
            raise ValueError("a hold cannot be negative")
        await self.ensure_in(conn, guild_id)
        await self._debit_or_credit(conn, guild_id, -amount)
        result = await conn.execute(
            HOLDS.insert()
            .values(
                guild_id=guild_id,
                user_id=user_id,
                key=key,
                command=command,
                amount=amount,
                status="open",
                created_at=utcnow(),
            )
            .returning(*HOLDS.c)
        )
        row = result.one()
        await self._append(
            conn, guild_id, user_id, "hold", -amount, f"hold:{key}",
            command=command, hold_id=row.id,
        )  # fmt: skip
        return Hold.from_row(row)

    async def settle(self, hold: Hold | int, actual: int) -> Hold:
        """Charge ``actual`` (capped at the amount held) and return the rest to the guild."""
        return await self._close(hold, max(0, actual), "settled")

    async def refund(self, hold: Hold | int) -> Hold:
        """Return the whole hold; used when nothing was delivered."""
        return await self._close(hold, 0, "refunded")

    @contextlib.asynccontextmanager
    async def refund_on_error(self, hold: Hold | int) -> AsyncIterator[None]:
        """Whatever goes wrong inside, the hold ends at once: refunded if still open (a settled
        one is left as it is), and the error goes on to whoever tells the member. Not on
        cancellation: a shutdown cuts answers off and the orphan sweep refunds those."""
        try:
            yield
        except Exception:
            hold_id = hold if isinstance(hold, int) else hold.id
            log.warning("refunding hold %s: its work failed", hold_id)
            await self.refund(hold)
            raise

    async def refund_settled(self, hold: Hold | int) -> Hold:
        """Give back what a settled hold charged: what was paid for turned out undeliverable
        (a result too large to upload whose link only the bot may open). The hold becomes
        ``refunded``; any other hold, or a replay, moves nothing."""
        hold_id = hold if isinstance(hold, int) else hold.id
        async with self.db.transaction() as conn:
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id))).one_or_none()
            if row is None:
                raise UnknownHold(f"hold {hold_id} does not exist")
            reopened = await conn.execute(
                update(HOLDS)
                .where(HOLDS.c.id == hold_id, HOLDS.c.status == "settled")
                .values(status="refunded", actual=0, closed_at=utcnow())
            )
            if reopened.rowcount == 1 and row.actual:  # type: ignore[attr-defined]
                await self._debit_or_credit(conn, row.guild_id, row.actual)
                await self._append(
                    conn, row.guild_id, row.user_id, "refund", row.actual, f"refund:{row.key}",
                    command=row.command, hold_id=row.id,
                )  # fmt: skip
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id))).one()
            return Hold.from_row(row)

    async def _close(self, hold: Hold | int, actual: int, status: str) -> Hold:
        async with self.db.transaction() as conn:
            return await self.close_in(conn, hold, actual, status)

    async def close_in(
        self, conn: AsyncConnection, hold: Hold | int, actual: int, status: str
    ) -> Hold:
        """Settle (``status="settled"``) or refund (``"refunded"``) inside the caller's
        transaction; a hold already closed is returned unchanged."""
        hold_id = hold if isinstance(hold, int) else hold.id
        row = (await conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id))).one_or_none()
        if row is None:
            raise UnknownHold(f"hold {hold_id} does not exist")
        if row.status != "open":
            return Hold.from_row(row)
        charged = min(max(0, actual), row.amount)
        closed = await conn.execute(
            update(HOLDS)
            .where(HOLDS.c.id == hold_id, HOLDS.c.status == "open")
            .values(status=status, actual=charged, closed_at=utcnow())
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id))).one()
            return Hold.from_row(row)
        back = row.amount - charged
        if back:
            await self._debit_or_credit(conn, row.guild_id, back)
            kind = "refund" if status == "refunded" else "release"
            await self._append(
                conn, row.guild_id, row.user_id, kind, back, f"{kind}:{row.key}",
                command=row.command, hold_id=row.id,
            )  # fmt: skip
        row = (await conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id))).one()
        return Hold.from_row(row)

    async def get_hold(self, key: str) -> Hold | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.key == key))).one_or_none()
        return Hold.from_row(row) if row else None

    async def open_holds(self) -> list[Hold]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(HOLDS).where(HOLDS.c.status == "open"))
            return [Hold.from_row(r) for r in rows]

    async def check(self) -> list[Discrepancy]:
        """Every guild whose balance differs from the sum of its ledger rows, and every guild
        with ledger rows but no account row."""
        sums = (
            select(LEDGER.c.guild_id, func.sum(LEDGER.c.amount).label("total"))
            .group_by(LEDGER.c.guild_id)
            .subquery()
        )
        query = select(ACCOUNTS.c.guild_id, ACCOUNTS.c.balance, sums.c.total).outerjoin(
            sums, sums.c.guild_id == ACCOUNTS.c.guild_id
        )
        # The foreign key forbids these, but a restore or a hand edit may have bypassed it.
        no_account = select(sums.c.guild_id, sums.c.total).where(
            ~select(ACCOUNTS.c.guild_id).where(ACCOUNTS.c.guild_id == sums.c.guild_id).exists()
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            orphans = (await conn.execute(no_account)).all()
        found = [
            Discrepancy(r.guild_id, int(r.balance), int(r.total or 0))
            for r in rows
            if int(r.balance) != int(r.total or 0)
        ]
        found += [Discrepancy(r.guild_id, None, int(r.total or 0)) for r in orphans]
        return sorted(found, key=lambda d: d.guild_id)

    async def _debit_or_credit(self, conn: AsyncConnection, guild_id: int, delta: int) -> None:
        if delta >= 0:
            await conn.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.guild_id == guild_id)
                .values(balance=ACCOUNTS.c.balance + delta)
            )
            return
        result = await conn.execute(
            update(ACCOUNTS)
            .where(ACCOUNTS.c.guild_id == guild_id, ACCOUNTS.c.balance >= -delta)
            .values(balance=ACCOUNTS.c.balance + delta)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InsufficientCredit(guild_id, await self._balance_in(conn, guild_id), -delta)

    async def _balance_in(self, conn: AsyncConnection, guild_id: int, *, lock: bool = False) -> int:
        query = select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == guild_id)
        # FOR UPDATE on PostgreSQL; SQLite's single writer (BEGIN IMMEDIATE) already serialises.
        value = await conn.scalar(query.with_for_update() if lock else query)
        return int(value or 0)

    async def _key_used(self, conn: AsyncConnection, key: str) -> bool:
        return await conn.scalar(select(LEDGER.c.id).where(LEDGER.c.key == key)) is not None
