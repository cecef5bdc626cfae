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
from bot.pg_batches import Batched

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
    account row is locked (``Batched(locked=True)``, bot/pg_batches.py): a hold committed
    between this snapshot and the lock would be missed."""
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


# Many movements as one statement (bot/pg_batches.py): each parameter an array with one element
# per request, numbered ``n`` from 1 in the order given. A request whose row is missing from the
# result moved nothing here, and its caller takes the usual path, as with the statements above.
# Every account row the statement changes is locked first, in guild order, so that two batches
# (or a batch and a single movement) never wait on each other's rows in a cycle; a settle's hold
# rows are locked before its accounts, as in CLOSE.
_REQUESTS = "r AS MATERIALIZED (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS r({columns}, n))"
_LOCKED = (
    "acc AS MATERIALIZED (SELECT guild_id, balance FROM guild_accounts "
    "WHERE guild_id IN (SELECT {guild} FROM {source}) ORDER BY guild_id FOR NO KEY UPDATE)"
)


def _requests(**columns: str) -> str:
    """The ``r`` CTE: one row per request, from the arrays named as the columns' parameters."""
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())
    names = ", ".join("user_id" if name == "user" else name for name in columns)  # a keyword
    return _REQUESTS.format(arrays=arrays, columns=names)


def gated_holds(policy: str, *, counted: bool = False) -> TextClause:
    """``gated_hold`` for many requests. ``policy`` reads the request's columns (``r.guild``,
    ``r.user_id``, ``r.cooldown``, ``r.roles``). A guild's requests are taken in order while
    its balance covers them all: the first that does not fit, and every one after it, is left
    to the usual path, which tells each why.

    ``counted``: as ``gated_hold``'s, with a member's requests in the batch counted as running
    in order, after the holds already open; it too must start after the accounts are locked."""
    columns = {
        "guild": "BIGINT", "user": "BIGINT", "amount": "BIGINT", "key": "VARCHAR",
        "command": "VARCHAR", "cooldown": "VARCHAR", "roles": "VARCHAR",
        "now": "TIMESTAMP WITH TIME ZONE",
    }  # fmt: skip
    fresh = (
        'SELECT DISTINCT ON (r."key") r.* FROM r '
        f"CROSS JOIN LATERAL ({policy}) p WHERE coalesce(p.seconds, 0) = 0 AND p.cap IS NULL "
        'AND NOT EXISTS (SELECT 1 FROM holds WHERE holds."key" = r."key") ORDER BY r."key", n'
    )
    if counted:
        columns["running"] = "BIGINT"
        fresh = (
            "SELECT d.* FROM (SELECT d.*, row_number() OVER (PARTITION BY guild, user_id "
            f"ORDER BY n) AS place FROM ({fresh}) d) d WHERE (SELECT count(*) FROM holds "
            "WHERE holds.guild_id = d.guild AND holds.user_id = d.user_id "
            "AND holds.status = 'open') + d.place <= d.running"
        )
    sql = (
        f"WITH {_requests(**columns)}, fresh AS MATERIALIZED ({fresh}), "
        f"{_LOCKED.format(guild='guild', source='fresh')}, "
        "ok AS MATERIALIZED (SELECT f.* FROM (SELECT fresh.*, "
        "sum(amount) OVER (PARTITION BY guild ORDER BY n) AS needed FROM fresh) f "
        "JOIN acc ON acc.guild_id = f.guild WHERE f.needed <= acc.balance), "
        "debit AS (UPDATE guild_accounts SET balance = guild_accounts.balance - t.total "
        "FROM (SELECT guild, sum(amount) AS total FROM ok GROUP BY guild) t "
        "WHERE guild_accounts.guild_id = t.guild RETURNING guild_accounts.guild_id), "
        'new AS (INSERT INTO holds (guild_id, user_id, "key", command, amount, status, '
        "created_at) SELECT guild, user_id, \"key\", command, amount, 'open', now FROM ok "
        f"WHERE guild IN (SELECT guild_id FROM debit) ORDER BY n RETURNING {HOLD_COLUMNS}), "
        f"entry AS (INSERT INTO ledger ({_LEDGER_COLUMNS}) SELECT new.guild_id, new.user_id, "
        "'hold', -new.amount, 'hold:' || new.\"key\", new.command, new.id, ok.now "
        'FROM new JOIN ok ON ok."key" = new."key" ORDER BY new.id) '
        # The policy's two columns as NULL: each row is then ``n`` and ``gated_hold``'s row.
        'SELECT ok.n, NULL, NULL, new.* FROM new JOIN ok ON ok."key" = new."key"'
    )
    return text(sql)


# CLOSE for many holds. A hold named twice is closed once (an UPDATE changes a row once, whatever
# joins it); the other request finds it closed.
_CLOSE_REQUESTS = _requests(
    id="BIGINT", wanted="BIGINT", status="VARCHAR", kind="VARCHAR", now="TIMESTAMP WITH TIME ZONE"
)
_CLOSED_COLUMNS = ", ".join(f"holds.{column.strip()}" for column in HOLD_COLUMNS.split(","))
CLOSES = text(
    f"WITH {_CLOSE_REQUESTS}, "
    "closed AS (UPDATE holds SET status = r.status, closed_at = r.now, "
    "actual = CASE WHEN holds.amount < r.wanted THEN holds.amount ELSE r.wanted END "
    "FROM r WHERE holds.id = r.id AND holds.status = 'open' "
    f"RETURNING {_CLOSED_COLUMNS}, r.kind, r.now, r.n), "
    f"{_LOCKED.format(guild='guild_id', source='closed')}, "
    "back AS (UPDATE guild_accounts SET balance = guild_accounts.balance + t.total "
    "FROM (SELECT closed.guild_id, sum(closed.amount - closed.actual) AS total FROM closed "
    "WHERE closed.actual < closed.amount GROUP BY closed.guild_id) t "
    "JOIN acc ON acc.guild_id = t.guild_id "
    "WHERE guild_accounts.guild_id = t.guild_id RETURNING guild_accounts.guild_id), "
    f"entry AS (INSERT INTO ledger ({_LEDGER_COLUMNS}) SELECT c.guild_id, c.user_id, c.kind, "
    "c.amount - c.actual, c.kind || ':' || c.\"key\", c.command, c.id, c.now FROM closed c "
    "WHERE c.actual < c.amount AND c.guild_id IN (SELECT guild_id FROM back) ORDER BY c.n) "
    f"SELECT n, {HOLD_COLUMNS} FROM closed"
)
# The settle or refund as Database.movement sends it.
CLOSING = Batched(CLOSE, CLOSES)
