"""The spending gate's statements (bot/spending.py), written once: they run before every hold."""

from __future__ import annotations

from sqlalchemy import bindparam, text

from bot.ledger_pg import gated_hold, gated_holds
from bot.pg_batches import Batched


def _policy_sql(
    roles: str, guild: str = ":guild", user: str = ":user", cooldown: str = ":cooldown"
) -> tuple[str, str]:
    """The lowest daily cap that applies to a member (their own or one of their roles'), and
    the policy: the command's cooldown and that cap. Prepared once, as they run before every
    hold; ``roles`` matches the role ids, and the other three are the parameters or, in a
    batch, the request's columns."""
    cap = (
        f"SELECT min(daily_cap) FROM spend_limits WHERE guild_id = {guild} AND ("
        f"(target_type = 'member' AND target_id = {user}) OR "
        f"(target_type = 'role' AND target_id {roles}))"
    )
    policy = (
        f"SELECT (SELECT seconds FROM cooldowns WHERE guild_id = {guild} "
        f"AND command = {cooldown}) AS seconds, ({cap}) AS cap"
    )
    return cap, policy


_CAP_SQL, _POLICY_SQL = _policy_sql("IN :roles")
DAILY_CAP = text(_CAP_SQL).bindparams(bindparam("roles", expanding=True))
POLICY = text(_POLICY_SQL).bindparams(bindparam("roles", expanding=True))
# SQLite: the role ids as one JSON array, so that the statement is the same for every member
# and can go straight to the driver (bot/ledger_sql.py ``run``).
POLICY_SQLITE = text(_policy_sql("IN (SELECT value FROM json_each(:roles))")[1])
# FOR NO KEY UPDATE: see Ledger._balance_now.
LOCK_ACCOUNT = text("SELECT balance FROM guild_accounts WHERE guild_id = :guild FOR NO KEY UPDATE")
RUNNING = text(
    "SELECT count(*) FROM holds WHERE guild_id = :guild AND user_id = :user AND status = 'open'"
)
# PostgreSQL: the gate and the hold in one statement when neither a cooldown nor a cap applies.
# The role ids as one array: an expanding IN is rewritten on every execution.
GATED_HOLD = gated_hold(_policy_sql("= ANY(CAST(:roles AS BIGINT[]))")[1])
# … and with ``limits.concurrent``: the member's running holds counted after the account lock.
COUNTED_HOLD = gated_hold(_policy_sql("= ANY(CAST(:roles AS BIGINT[]))")[1], counted=True)
# … and many requests' at once (bot/pg_batches.py): each request's role ids as one text.
_ROW_POLICY = _policy_sql(
    "= ANY(CAST(string_to_array(r.roles, ',') AS BIGINT[]))",
    guild="r.guild", user="r.user_id", cooldown="r.cooldown",
)[1]  # fmt: skip
_ROLES = {"roles": lambda ids: ",".join(map(str, ids))}
GATED = Batched(GATED_HOLD, gated_holds(_ROW_POLICY), encode=_ROLES)
COUNTED = Batched(COUNTED_HOLD, gated_holds(_ROW_POLICY, counted=True), encode=_ROLES, locked=True)
