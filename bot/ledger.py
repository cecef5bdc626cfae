"""Guild credit: grants, holds, settles and refunds.

Every movement is one transaction that changes the balance and appends a ledger row, so a guild's
balance always equals the sum of its ledger rows. Every movement carries an idempotency key: a
replay of the same key (a retried interaction, a job resumed after a restart) moves nothing.

The movements are plain (blocking) SQLAlchemy Core run through ``Database.write``: on SQLite a
whole transaction is one hop to the writer thread. Each takes as few statements as it can: the
unique keys of ``ledger`` and ``holds`` make a replay a no-op (INSERT … ON CONFLICT DO NOTHING);
the balance changes in one guarded UPDATE, before the ledger row, so that the account row's
lock orders the rows' ids as the balance changed; and a guild's account, once seen, is not
re-created.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import TextClause, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.amounts import MAX_BALANCE, check_amount
from bot.db import Database, GuildAccount, HoldRow, LedgerEntry, insert_ignore_now, table, utcnow
from bot.errors import BalanceLimitReached, InsufficientCredit, UnknownHold
from bot.ledger_check import Discrepancy, check_ledger
from bot.ledger_pg import CLOSING
from bot.ledger_sql import (
    APPEND,
    APPEND_ONCE,
    CLOSE_HOLD,
    CREDIT,
    CREDIT_UP_TO,
    DEBIT,
    INSERT_HOLD,
    SELECT_HOLD,
    SELECT_HOLD_BY_KEY,
    rowcount,
    run,
)
from bot.pg_batches import Batched

log = logging.getLogger(__name__)

ACCOUNTS = table(GuildAccount)
HOLDS = table(HoldRow)
LEDGER = table(LedgerEntry)
T = TypeVar("T")


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
class Grant:
    """What a grant or set did: ``moved`` is False when its key was a replay."""

    balance: int
    amount: int
    moved: bool


class Ledger:
    """The only writer of balances. Amounts are integer credits (bot/amounts.py: the ranges)."""

    def __init__(self, db: Database, *, starting_balance: int) -> None:
        self.db = db
        self.starting_balance = check_amount("credit.starting_balance", starting_balance, 0)
        # Guilds whose account row is committed: rows are never deleted, so the INSERT that
        # opens one need not run again in this process.
        self._opened: set[int] = set()

    async def write(self, guild_id: int, work: Callable[[Connection], T]) -> T:
        """``Database.write`` for a movement of ``guild_id``'s credit."""
        result = await self.db.write(work)
        self._opened.add(guild_id)  # committed: the account exists now
        return result

    # ---- opening an account ------------------------------------------------------------------

    async def ensure_in(self, conn: AsyncConnection, guild_id: int) -> None:
        """Open the guild's account with the starting balance the first time it is seen."""
        await conn.run_sync(self.ensure_now, guild_id)

    def ensure_now(self, conn: Connection, guild_id: int) -> None:
        if guild_id in self._opened:
            return
        values = {"guild_id": guild_id, "balance": self.starting_balance, "created_at": utcnow()}
        if insert_ignore_now(conn, GuildAccount, values):
            self._append(
                conn, guild_id, None, "opening", self.starting_balance, f"opening:{guild_id}"
            )

    def _append(
        self,
        conn: Connection,
        guild_id: int,
        user_id: int | None,
        kind: str,
        amount: int,
        key: str,
        *,
        command: str | None = None,
        hold_id: int | None = None,
        note: str | None = None,
        replayable: bool = False,
    ) -> bool:
        """Append a ledger row; with ``replayable``, a row whose key exists is skipped and
        False returned."""
        statement = APPEND_ONCE if replayable else APPEND
        moved = rowcount(
            conn, statement, guild=guild_id, user=user_id, kind=kind, amount=amount, key=key,
            command=command, hold=hold_id, note=note, now=utcnow(),
        )  # fmt: skip
        return moved == 1

    # ---- balances ------------------------------------------------------------------------------

    async def find_balance(self, guild_id: int) -> int | None:
        """The guild's balance, or None for a guild never seen (nothing is created)."""
        async with self.db.read() as conn:
            value = await conn.scalar(
                select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == guild_id)
            )
        return None if value is None else int(value)

    async def balance(self, guild_id: int) -> int:
        """The guild's balance; a guild seen for the first time gets the starting balance."""
        value = await self.find_balance(guild_id)
        if value is not None:
            return value

        def open_account(conn: Connection) -> int:
            self.ensure_now(conn, guild_id)
            return self._balance_now(conn, guild_id)

        return await self.write(guild_id, open_account)

    # ---- grants --------------------------------------------------------------------------------

    async def grant(self, guild_id: int, amount: int, **movement: Any) -> int:
        """Add (or with a negative amount, remove) credit; returns the new balance.

        A negative grant never takes the balance below zero: it fails with InsufficientCredit.
        ``movement``: ``adjust``'s key, user_id and note.
        """
        return (await self.adjust(guild_id, amount, **movement)).balance

    async def adjust(
        self,
        guild_id: int,
        amount: int,
        *,
        key: str,
        user_id: int | None = None,
        note: str | None = None,
    ) -> Grant:
        """Add (or with a negative amount, remove) credit, and say what moved. A balance past
        MAX_BALANCE is refused (BalanceLimitReached), an amount outside ±MAX_BALANCE too
        (AmountOutOfRange), a debit below zero too (InsufficientCredit)."""
        check_amount("amount", amount, -MAX_BALANCE)
        return await self._grant(guild_id, lambda _balance: amount, key, user_id, note)

    async def set_balance(self, guild_id: int, amount: int, **movement: Any) -> int:
        """Make the balance exactly ``amount``; returns it (``set_to``'s balance)."""
        return (await self.set_to(guild_id, amount, **movement)).balance

    async def set_to(
        self,
        guild_id: int,
        amount: int,
        *,
        key: str,
        user_id: int | None = None,
        note: str | None = None,
    ) -> Grant:
        """Make the balance exactly ``amount``, and say what moved.

        The difference is read and written in one transaction with the account row locked, so
        a hold or settle landing meanwhile cannot make the result miss ``amount``; the ledger
        row records the difference as a grant.
        """
        check_amount("amount", amount, 0)
        return await self._grant(guild_id, lambda balance: amount - balance, key, user_id, note)

    async def _grant(
        self,
        guild_id: int,
        difference: Callable[[int], int],
        key: str,
        user_id: int | None,
        note: str | None,
    ) -> Grant:
        def work(conn: Connection) -> Grant:
            self.ensure_now(conn, guild_id)
            balance = self._balance_now(conn, guild_id, lock=True)
            amount = difference(balance)
            # The row first: its unique key makes a replay (even a concurrent one) a no-op.
            if not self._append(
                conn, guild_id, user_id, "grant", amount, f"grant:{key}",
                note=note, replayable=True,
            ):  # fmt: skip
                return Grant(balance, 0, moved=False)
            if amount < 0:
                self._debit(conn, guild_id, -amount)
            elif amount > 0:
                self._credit(conn, guild_id, amount, limit=True)
            return Grant(balance + amount, amount, moved=True)

        return await self.write(guild_id, work)

    # ---- holds ---------------------------------------------------------------------------------

    async def hold(
        self, guild_id: int, user_id: int | None, amount: int, *, key: str, command: str
    ) -> Hold:
        """Reserve ``amount`` before calling the upstream; raises InsufficientCredit.

        The debit is a single conditional UPDATE, so concurrent holds can never overdraw.
        """
        return await self.write(
            guild_id,
            lambda conn: self.hold_now(conn, guild_id, user_id, amount, key=key, command=command)[
                0
            ],
        )

    async def hold_at_once(
        self,
        statement: Batched,
        guild_id: int,
        user_id: int | None,
        amount: int,
        *,
        key: str,
        command: str,
        **policy: Any,
    ) -> Hold | None:
        """On PostgreSQL, the hold as one statement (bot/ledger_pg.py); None when it moved
        nothing or could not, and the caller takes the hold the usual way, whose rules then
        apply (a replay, not enough credit, a cooldown, a cap, too many running, an account to
        open). It goes with the holds that wait beside it (bot/pg_batches.py)."""
        if self.db.is_sqlite or guild_id not in self._opened or not 0 <= amount <= MAX_BALANCE:
            return None
        params = {
            "guild": guild_id, "user": user_id, "amount": amount, "key": key,
            "command": command, "now": utcnow(), **policy,
        }  # fmt: skip
        try:
            rows = await self.db.movement(statement, params)
        except IntegrityError:
            return None  # a concurrent replay committed first: the usual path finds its hold
        new = rows[0][2:] if rows else (None,)  # after the policy's seconds and cap
        return None if new[0] is None else Hold(*new)

    def hold_now(
        self,
        conn: Connection,
        guild_id: int,
        user_id: int | None,
        amount: int,
        *,
        key: str,
        command: str,
    ) -> tuple[Hold, bool]:
        """The hold, and whether it is new (False: ``key`` was a replay; nothing moved)."""
        check_amount("amount", amount, 0, 2**63 - 1)
        if amount > MAX_BALANCE:  # no balance can cover it; never sent to the database
            raise InsufficientCredit(guild_id, self._balance_now(conn, guild_id), amount)
        self.ensure_now(conn, guild_id)
        values = {"guild": guild_id, "user": user_id, "key": key, "command": command,
                  "amount": amount, "now": utcnow()}  # fmt: skip
        if conn.dialect.name == "sqlite":
            # One writer, so no lock to order: the hold's unique key tells a replay, and a debit
            # refused (InsufficientCredit) rolls the new hold back with the rest of the unit.
            new = _one_hold(conn, INSERT_HOLD, values)
            if new is None:
                return self._replayed(conn, key), False
            self._debit(conn, guild_id, amount)
            self._append(conn, guild_id, user_id, "hold", -amount, f"hold:{key}",
                         command=command, hold_id=new.id)  # fmt: skip
            return new, True
        # A replay is found before any lock is taken: waiting on the account row and then on
        # the hold's own row (a settle of it running) could deadlock with that settle.
        held = _one_hold(conn, SELECT_HOLD_BY_KEY, {"key": key})
        if held is not None:
            return held, False
        # The account row first, as every movement: its lock orders the ledger rows' ids the
        # way the balance changed.
        self._debit(conn, guild_id, amount)
        new = _one_hold(conn, INSERT_HOLD, values)
        if new is None:  # a concurrent replay committed first: that hold stands
            self._credit(conn, guild_id, amount)  # undo this debit; no row recorded it
            return self._replayed(conn, key), False
        self._append(
            conn, guild_id, user_id, "hold", -amount, f"hold:{key}", command=command, hold_id=new.id
        )
        return new, True

    @staticmethod
    def _replayed(conn: Connection, key: str) -> Hold:
        held = _one_hold(conn, SELECT_HOLD_BY_KEY, {"key": key})
        assert held is not None
        return held

    async def settle(self, hold: Hold | int, actual: int) -> Hold:
        """Charge ``actual`` (capped at the amount held) and return the rest to the guild."""
        return await self._close(hold, actual, "settled")

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

    async def _close(self, hold: Hold | int, actual: int, status: str) -> Hold:
        if not self.db.is_sqlite:
            hold_id = hold if isinstance(hold, int) else hold.id
            params = {
                "status": status, "now": utcnow(), "wanted": min(max(0, actual), MAX_BALANCE),
                "id": hold_id, "kind": "refund" if status == "refunded" else "release",
            }  # fmt: skip
            rows = await self.db.movement(CLOSING, params)
            if rows:
                return Hold(*rows[0])
            # Nothing closed: a replay, or no such hold; the usual path tells which.
        return await self.db.write(lambda conn: self.close_now(conn, hold, actual, status))

    async def close_in(
        self, conn: AsyncConnection, hold: Hold | int, actual: int, status: str
    ) -> Hold:
        """Settle (``status="settled"``) or refund (``"refunded"``) inside the caller's
        transaction; a hold already closed is returned unchanged."""
        return await conn.run_sync(self.close_now, hold, actual, status)

    def close_now(self, conn: Connection, hold: Hold | int, actual: int, status: str) -> Hold:
        hold_id = hold if isinstance(hold, int) else hold.id
        # Clamped here so that no number outside 64 bits reaches the driver; capped at the
        # amount held by the UPDATE itself.
        wanted = min(max(0, actual), MAX_BALANCE)
        row = _one_hold(
            conn, CLOSE_HOLD, {"status": status, "now": utcnow(), "wanted": wanted, "id": hold_id}
        )
        if row is None:  # closed before (a replay), or never held
            row = _one_hold(conn, SELECT_HOLD, {"id": hold_id})
            if row is None:
                raise UnknownHold(f"hold {hold_id} does not exist")
            return row
        back = row.amount - (row.actual or 0)
        if back:
            kind = "refund" if status == "refunded" else "release"
            self._credit(conn, row.guild_id, back)
            self._append(
                conn, row.guild_id, row.user_id, kind, back, f"{kind}:{row.key}",
                command=row.command, hold_id=row.id,
            )  # fmt: skip
        return row

    async def refund_settled(self, hold: Hold | int) -> Hold:
        """Give back what a settled hold charged: what was paid for turned out undeliverable
        (a result too large to upload whose link only the bot may open). The hold becomes
        ``refunded``; any other hold, or a replay, moves nothing."""
        hold_id = hold if isinstance(hold, int) else hold.id

        def work(conn: Connection) -> Hold:
            row = conn.execute(select(HOLDS).where(HOLDS.c.id == hold_id)).one_or_none()
            if row is None:
                raise UnknownHold(f"hold {hold_id} does not exist")
            reopened = conn.execute(
                update(HOLDS)
                .where(HOLDS.c.id == hold_id, HOLDS.c.status == "settled")
                .values(status="refunded", actual=0, closed_at=utcnow())
                .returning(*HOLDS.c)
            ).one_or_none()
            if reopened is None:  # not settled, or refunded meanwhile: as it is now
                closed = _one_hold(conn, SELECT_HOLD, {"id": hold_id})
                assert closed is not None
                return closed
            if row.actual:
                self._credit(conn, row.guild_id, row.actual)
                self._append(
                    conn, row.guild_id, row.user_id, "refund", row.actual, f"refund:{row.key}",
                    command=row.command, hold_id=row.id,
                )  # fmt: skip
            return Hold.from_row(reopened)

        return await self.db.write(work)

    async def get_hold(self, key: str) -> Hold | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.key == key))).one_or_none()
        return Hold.from_row(row) if row else None

    async def open_holds(self) -> list[Hold]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(HOLDS).where(HOLDS.c.status == "open"))
            return [Hold.from_row(r) for r in rows]

    # ---- the operator's check ------------------------------------------------------------------

    async def check(self) -> list[Discrepancy]:
        """Every guild whose balance differs from the sum of its ledger rows, and every guild
        with ledger rows but no account row (bot/ledger_check.py)."""
        return await check_ledger(self.db)

    # ---- the balance itself --------------------------------------------------------------------

    def _debit(self, conn: Connection, guild_id: int, amount: int) -> None:
        if amount and rowcount(conn, DEBIT, guild=guild_id, amount=amount) != 1:
            raise InsufficientCredit(guild_id, self._balance_now(conn, guild_id), amount)

    def _credit(self, conn: Connection, guild_id: int, amount: int, *, limit: bool = False) -> None:
        """Add ``amount``; with ``limit`` (a grant), refuse a balance past MAX_BALANCE. What a
        hold returns is never refused: it was the guild's before."""
        if not limit:
            rowcount(conn, CREDIT, guild=guild_id, amount=amount)
            return
        if rowcount(conn, CREDIT_UP_TO, guild=guild_id, amount=amount, room=MAX_BALANCE - amount):
            return
        raise BalanceLimitReached(
            f"guild {guild_id}: a grant of {amount} would pass {MAX_BALANCE}",
            limit=f"{MAX_BALANCE:,}",
            balance=f"{self._balance_now(conn, guild_id):,}",
        )

    def _balance_now(self, conn: Connection, guild_id: int, *, lock: bool = False) -> int:
        query = select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == guild_id)
        # FOR NO KEY UPDATE on PostgreSQL (SQLite's single writer already serialises): unlike
        # FOR UPDATE it does not wait for the key-share locks that the foreign keys of a hold's
        # rows take on the account before its UPDATE, which could deadlock with it.
        value = conn.scalar(query.with_for_update(key_share=True) if lock else query)
        return int(value or 0)


def _one_hold(conn: Connection, statement: TextClause, params: dict[str, Any]) -> Hold | None:
    """The hold a statement returns (its columns are ``HOLD_COLUMNS``), or None."""
    rows = run(conn, statement, params).fetchall()
    return Hold(*rows[0]) if rows else None
