"""Operator commands that work on the database alone, without Discord: schema, credit, ledger."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from bot.config import load_config
from bot.db import Database
from bot.errors import BadSetting
from bot.ledger import Ledger
from bot.migrations import current, head, prepare, revisions, upgrade
from bot.reports import Reports


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


async def credit_grant(args: argparse.Namespace) -> int:
    db, ledger = await _open(args.config)
    try:
        # A fresh key per run: running the command twice means granting twice.
        key = args.key or f"cli:{uuid.uuid4()}"
        balance = await ledger.grant(
            args.guild, args.amount, key=key, note=args.note or "cli grant"
        )
        print(f"guild {args.guild}: granted {args.amount:,}; balance {balance:,}")
        return 0
    finally:
        await db.close()


async def credit_balance(args: argparse.Namespace) -> int:
    db, ledger = await _open(args.config)
    try:
        if args.guild is not None:
            print(f"{args.guild}\t{await ledger.balance(args.guild):,}")
            return 0
        for guild_id, balance in await Reports(db).guild_balances():
            print(f"{guild_id}\t{balance:,}")
        return 0
    finally:
        await db.close()


async def credit_export(args: argparse.Namespace) -> int:
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
    grant = credit_sub.add_parser("grant", parents=[config_option], help="add credit to a guild")
    grant.add_argument("guild", type=int)
    grant.add_argument("amount", type=int)
    grant.add_argument("--note", default=None)
    grant.add_argument("--key", default=None, help="idempotency key: a repeated key grants once")
    grant.set_defaults(async_handler=credit_grant)
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
