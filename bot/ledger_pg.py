"""PostgreSQL's movements as one statement each: one round trip, no BEGIN or COMMIT.

Every statement a hold or a settle sends is a round trip to the server, BEGIN and COMMIT
included: the movement as separate statements took 12 a pair, and the round trips, not the
server's work, set the rate. Here each movement is one statement whose data-modifying CTEs change
the balance, the hold and the ledger row together; run in autocommit, a single statement is its
own transaction, so it is still atomic. Only the common case is made this way: whenever the
statement moves nothing (a replay, not enough credit, a cooldown or a daily cap to check) or
fails (a concurrent replay's unique key), the caller runs the movement as before, whose rules
decide what happens. SQLite cannot run INSERT or UPDATE inside WITH, and its statements are not
round trips anyway (bot/sqlite_writer.py).

The ledger row's INSERT reads the CTE that changed the balance, so it runs after the account
row is locked, and the rows' ids keep the order in which the balance changed.
"""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, text

from bot.db import HoldRow, table
from bot.ledger_sql import CLOSE_HOLD_SQL, HOLD_COLUMNS

_NOW = table(HoldRow).c.created_at.type
_LEDGER_COLUMNS = 'guild_id, user_id, kind, amount, "key", command, hold_id, created_at'


def gated_hold(policy: str, *, counted: bool = False) -> TextClause:
    """The hold, taken only if ``policy`` (a SELECT of one row: the command's cooldown
    ``seconds`` and the member's daily ``cap``) says neither applies and the key is new. Its
    one row: the policy's two values, then the new hold's columns (NULL when nothing moved).
    The replay check reads the statement's snapshot; a replay committed after it fails the
    holds' unique key, which undoes the whole statement.

    ``counted``: only while the member has fewer than ``:running`` holds open. The count reads
    the statement's snapshot too, so it is right only when the statement starts after the
    account row is locked (``Database.locked_statement``): a hold committed between this
    snapshot and the lock would be missed."""
    running = (
        "AND (SELECT count(*) FROM holds WHERE guild_id = :guild AND user_id = :user "
        "AND status = 'open') < :running "
        if counted
        else ""
    )
    sql = (
        f"WITH policy AS ({policy}), "
        "debit AS (UPDATE guild_accounts SET balance = balance - :amount "
        "WHERE guild_id = :guild AND balance >= :amount "
        'AND NOT EXISTS (SELECT 1 FROM holds WHERE "key" = :key) '
        "AND (SELECT coalesce(seconds, 0) = 0 AND cap IS NULL FROM policy) "
        f"{running}RETURNING guild_id), "
        'new AS (INSERT INTO holds (guild_id, user_id, "key", command, amount, status, '
        "created_at) SELECT guild_id, :user, :key, :command, :amount, 'open', :now FROM debit "
        f"RETURNING {HOLD_COLUMNS}), "
        f"entry AS (INSERT INTO ledger ({_LEDGER_COLUMNS}) SELECT guild_id, user_id, 'hold', "
        "-amount, 'hold:' || \"key\", command, id, :now FROM new) "
        "SELECT policy.*, new.* FROM policy LEFT JOIN new ON true"
    )
    return text(sql).bindparams(bindparam("now", type_=_NOW))


# Settle or refund: close the hold if open, give back what it did not charge, record it.
# Nothing returned: closed before (a replay) or never held.
CLOSE = text(
    f"WITH closed AS ({CLOSE_HOLD_SQL}), "
    "back AS (UPDATE guild_accounts SET balance = guild_accounts.balance "
    "+ (closed.amount - closed.actual) FROM closed "
    "WHERE guild_accounts.guild_id = closed.guild_id AND closed.actual < closed.amount "
    "RETURNING guild_accounts.guild_id), "
    f"entry AS (INSERT INTO ledger ({_LEDGER_COLUMNS}) SELECT closed.guild_id, "
    "closed.user_id, CAST(:kind AS VARCHAR), closed.amount - closed.actual, "
    "CAST(:kind AS VARCHAR) || ':' || closed.\"key\", closed.command, closed.id, :now "
    "FROM closed, back) "
    "SELECT * FROM closed"
).bindparams(bindparam("now", type_=_NOW))
