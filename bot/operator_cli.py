"""Operator commands that work on the database alone, without Discord: schema, credit, ledger."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from bot.amounts import MAX_BALANCE, MAX_SNOWFLAKE, check_amount, check_guild_id
from bot.config import load_config
from bot.db import Database
from bot.errors import (
    AmountOutOfRange,
    BadSetting,
    BalanceLimitReached,
    InsufficientCredit,
    NotAGuildId,
)
from bot.ledger import Ledger
from bot.migrations import current, head, prepare, revisions, upgrade
from bot.reports import Reports

# Credit verbs: an amount or guild id outside its range is refused before anything is opened
# (exit 2, as for a bad configuration); the ledger refusing (not enough credit to debit, a
# guild it has no account for) is exit 1.
EXIT_INPUT = 2
EXIT_REFUSED = 1
AMOUNT_HELP = {
    "grant": f"credits to add, 1 to {MAX_BALANCE:,}",
    "debit": f"credits to take, 1 to {MAX_BALANCE:,}",
    "set": f"the new balance, 0 to {MAX_BALANCE:,}",
}


async def _connect(config_path: Path | None) -> Database:
    """The configured database, connected (an ordinary failure is one clear error)."""
    db = Database(load_config(config_path, offline=True).database.url)
    try:
        await db.check_connection()
    except BaseException:
        await db.close()
        raise
    return db


async def _open(config_path: Path | None) -> tuple[Database, Ledger]:
    config = load_config(config_path, offline=True)
    db = await _connect(config_path)
    try:
        await prepare(db, auto_upgrade=config.database.auto_upgrade)
    except BaseException:
        await db.close()
        raise
    return db, Ledger(db, starting_balance=config.credit.starting_balance)


def _known_revision(revision: str) -> None:
    if revision != "head" and revision not in revisions():
        raise BadSetting(
            f"revision {revision!r} is not one this build knows; run `atelier db upgrade` for "
            f"the newest ({head()}), or name one of: {', '.join(revisions())}"
        )


async def db_upgrade(args: argparse.Namespace) -> int:
    _known_revision(args.revision)
    db = await _connect(args.config)
    try:
        before = await current(db)
        await upgrade(db, args.revision)
        after = await current(db)
        if before == after:
            print(f"database schema: already at {after}")
        else:
            print(f"database schema: upgraded from {before or 'nothing'} to {after}")
        return 0
    finally:
        await db.close()


async def db_current(args: argparse.Namespace) -> int:
    db = await _connect(args.config)
    try:
        revision, wanted = await current(db), head()
        if revision == wanted:
            print(f"database schema: {revision} (current)")
            return 0
        print(
            f"database schema: {revision or 'none'}; this build needs {wanted}: "
            "run `atelier db upgrade`"
        )
        return 1
    finally:
        await db.close()


def _refusal(message: str) -> int:
    print(f"atelier: {message}", file=sys.stderr)
    return EXIT_INPUT


def _guild_problem(guild: int) -> str | None:
    try:
        check_guild_id(guild)
    except NotAGuildId:
        return (
            f"guild must be a Discord server id, a whole number from 1 to {MAX_SNOWFLAKE:,} "
            f"(got {guild})"
        )
    return None


def _amount_problem(amount: int, low: int) -> str | None:
    try:
        check_amount("amount", amount, low)
    except AmountOutOfRange:
        return f"amount must be from {low:,} to {MAX_BALANCE:,} (got {amount})"
    return None


async def _move(args: argparse.Namespace, verb: str) -> int:
    """``credit grant``, ``credit debit`` or ``credit set``: validated before the database is
    opened, so a refused command leaves nothing behind."""
    low = 0 if verb == "set" else 1
    problem = _guild_problem(args.guild) or _amount_problem(args.amount, low)
    if problem is not None:
        if verb == "grant" and args.amount < 0:
            problem += (
                "; a grant only adds: lower a balance with `atelier credit debit GUILD AMOUNT` "
                "or `atelier credit set GUILD AMOUNT`"
            )
        return _refusal(f"credit {verb}: {problem}")
    db, ledger = await _open(args.config)
    try:
        # A fresh key per run: running the command twice means moving credit twice.
        key = args.key or f"cli:{uuid.uuid4()}"
        note = args.note or f"cli {verb}"
        try:
            if verb == "set":
                done = await ledger.set_to(args.guild, args.amount, key=key, note=note)
            else:
                amount = args.amount if verb == "grant" else -args.amount
                done = await ledger.adjust(args.guild, amount, key=key, note=note)
        except BalanceLimitReached:
            return _refusal(
                f"credit {verb}: guild {args.guild} would pass {MAX_BALANCE:,} credits, the most "
                f"a server may hold; nothing moved (balance {await ledger.balance(args.guild):,})"
            )
        except InsufficientCredit as exc:
            print(
                f"atelier: credit debit: guild {args.guild} has {exc.balance:,} credits, fewer "
                f"than {exc.needed:,}; nothing moved",
                file=sys.stderr,
            )
            return EXIT_REFUSED
        if not done.moved:
            print(f"guild {args.guild}: key {key!r} was used before; nothing moved; "
                  f"balance {done.balance:,}")  # fmt: skip
        elif verb == "set":
            print(f"guild {args.guild}: balance set to {done.balance:,} ({done.amount:+,})")
        else:
            print(f"guild {args.guild}: {verb}ed {abs(done.amount):,}; balance {done.balance:,}")
        return 0
    finally:
        await db.close()


async def credit_grant(args: argparse.Namespace) -> int:
    return await _move(args, "grant")


async def credit_debit(args: argparse.Namespace) -> int:
    return await _move(args, "debit")


async def credit_set(args: argparse.Namespace) -> int:
    return await _move(args, "set")


async def credit_balance(args: argparse.Namespace) -> int:
    problem = _guild_problem(args.guild) if args.guild is not None else None
    if problem is not None:
        return _refusal(f"credit balance: {problem}")
    db, ledger = await _open(args.config)
    try:
        if args.guild is not None:
            balance = await ledger.find_balance(args.guild)
            if balance is None:
                print(
                    f"atelier: credit balance: guild {args.guild} has no account (the bot has "
                    "not seen it, and nothing was granted to it); nothing was created",
                    file=sys.stderr,
                )
                return EXIT_REFUSED
            print(f"{args.guild}\t{balance:,}")
            return 0
        for guild_id, balance in await Reports(db).guild_balances():
            print(f"{guild_id}\t{balance:,}")
        return 0
    finally:
        await db.close()


async def credit_export(args: argparse.Namespace) -> int:
    problem = _guild_problem(args.guild)
    if problem is not None:
        return _refusal(f"credit export: {problem}")
    folder = args.csv.resolve().parent
    if not folder.is_dir():
        raise BadSetting(f"--csv: the folder {folder} does not exist; create it first")
    db, _ = await _open(args.config)
    try:
        text = await Reports(db).export_csv(args.guild)
        try:
            args.csv.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadSetting(f"--csv: cannot write {args.csv}: {exc.strerror}") from exc
        print(f"wrote {args.csv}")
        return 0
    finally:
        await db.close()


async def ledger_check(args: argparse.Namespace) -> int:
    db, ledger = await _open(args.config)
    try:
        problems = await ledger.check()
        for problem in problems:
            if problem.balance is None:
                print(
                    f"guild {problem.guild_id}: no account row but ledger rows summing to "
                    f"{problem.ledger_sum:,}"
                )
                continue
            print(
                f"guild {problem.guild_id}: balance {problem.balance:,} but ledger sums to "
                f"{problem.ledger_sum:,} (difference {problem.balance - problem.ledger_sum:+,})"
            )
        if not problems:
            print("ledger check: every balance equals the sum of its ledger rows")
        return 1 if problems else 0
    finally:
        await db.close()


def add_commands(
    commands: argparse._SubParsersAction, config_option: argparse.ArgumentParser
) -> None:  # type: ignore[type-arg]
    db = commands.add_parser("db", help="upgrade or show the database schema (no Discord)")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", parents=[config_option], help="migrate the schema")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    up.set_defaults(async_handler=db_upgrade)
    show = db_sub.add_parser(
        "current", parents=[config_option], help="the schema's revision; exit 1 when behind"
    )
    show.set_defaults(async_handler=db_current)

    credit = commands.add_parser("credit", help="grant, show and export guild credit (no Discord)")
    credit_sub = credit.add_subparsers(dest="credit_command", required=True, metavar="ACTION")
    verbs = {
        "grant": ("add credit to a guild", credit_grant),
        "debit": ("take credit from a guild (never below 0)", credit_debit),
        "set": ("make a guild's balance exactly AMOUNT", credit_set),
    }
    for verb, (summary, handler) in verbs.items():
        move = credit_sub.add_parser(verb, parents=[config_option], help=summary)
        move.add_argument("guild", type=int, help="the Discord server id")
        move.add_argument("amount", type=int, help=AMOUNT_HELP[verb])
        move.add_argument("--note", default=None)
        move.add_argument("--key", default=None, help="idempotency key: a repeated key moves once")
        move.set_defaults(async_handler=handler)
    balance = credit_sub.add_parser("balance", parents=[config_option], help="balances")
    balance.add_argument("guild", type=int, nargs="?")
    balance.set_defaults(async_handler=credit_balance)
    export = credit_sub.add_parser("export", parents=[config_option], help="ledger as CSV")
    export.add_argument("guild", type=int)
    export.add_argument("--csv", type=Path, required=True, metavar="FILE")
    export.set_defaults(async_handler=credit_export)

    ledger = commands.add_parser("ledger", help="verify the ledger (no Discord)")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    check = ledger_sub.add_parser(
        "check", parents=[config_option], help="balance == sum of ledger rows, for every guild"
    )
    check.set_defaults(async_handler=ledger_check)
