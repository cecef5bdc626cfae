"""``atelier doctor``: check every part on its own (config, database, Discord, upstream) and say
what to fix.

Each check is a ``DoctorCheck`` in ``CHECKS``: a name, the config sections it depends on and an
async function returning a ``Check`` row. All run at once, each bounded by ``--timeout``; a
faulty config key fails only the checks that need it (the others run with that key left out).
The report goes to stdout and nothing else does; progress on a slow check goes to stderr. The
exit code is the first failing row's, the same as ``atelier run`` would exit with.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.capabilities import Capabilities
from bot.config import DEFAULT_CONFIG_PATH, SECRET_KEYS, Config, load_config
from bot.db import Database
from bot.db_errors import sqlite_folder_problem
from bot.errors import (
    ConfigError,
    OperatorError,
    SchemaError,
    ServiceUnreachable,
    UpstreamAuthError,
    UpstreamError,
)
from bot.migrations import current, head
from bot.reachability import probe_discord
from bot.sqlite_paths import sqlite_file
from bot.upstream.factory import billing_client, upstream_client

DEFAULT_TIMEOUT = 10.0
# A check still running after this long (or half the timeout) says so on stderr, and again
# every PROGRESS_EVERY seconds.
PROGRESS_AFTER = 1.0
PROGRESS_EVERY = 3.0
PLACEHOLDER_SECRET = "not-set"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    config: Config
    problems: dict[str, str]  # config problems by dotted key
    session: aiohttp.ClientSession
    timeout: float


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    name: str
    sections: tuple[str, ...]  # a config problem under these fails the check without running it
    run: Callable[[Context], Awaitable[Check]]
    target: Callable[[Config], str]  # what is being reached, for the progress line


def failed(name: str, error: OperatorError) -> Check:
    return Check(name, False, str(error), error.exit_code)


async def check_database(ctx: Context) -> Check:
    url = ctx.config.database.url
    path = sqlite_file(url)
    shown = f"sqlite {path}" if path is not None else url.split("://", 1)[0]
    if path is not None and not path.exists():
        # Never create it here: check its folder, and say where ``atelier run`` will.
        problem = sqlite_folder_problem(url)
        if problem is not None:
            return failed("database", problem)
        return Check("database", True, f"{shown} (no file yet: the first start creates it)")
    db = Database(url, read_only=True)
    try:
        await db.check_connection()
        revision, wanted = await current(db), head()
    finally:
        await db.close()
    if revision == wanted:
        return Check("database", True, f"{shown}, schema {revision} (current)")
    if ctx.config.database.auto_upgrade:
        found = revision or "none"
        return Check("database", True, f"{shown}, schema {found}: a start upgrades it")
    behind = f"{shown}: schema {revision or 'none'}, needs {wanted}; run `atelier db upgrade`"
    return failed("database", SchemaError(behind))


async def check_discord(ctx: Context) -> Check:
    discord_cfg = ctx.config.discord
    token = discord_cfg.token.get_secret_value()
    me = await probe_discord(ctx.session, discord_cfg.api_base, token, ctx.timeout)
    return Check("discord", True, f"logged in as {me.username} (id {me.user_id})")


async def check_upstream(ctx: Context) -> Check:
    up = ctx.config.upstream
    client = upstream_client(ctx.session, up, total_timeout=ctx.timeout)
    try:
        balance = await billing_client(client, up).balance()
    except UpstreamAuthError:
        return Check("upstream", False, "upstream.api_key: rejected by the gateway", 2)
    except UpstreamError as exc:
        reason = exc.detail or "request failed"
        return Check("upstream", False, f"upstream.base_url {up.base_url}: {reason}", 4)
    if balance.unlimited:
        return Check("upstream", True, "key accepted (unlimited)")
    remaining = balance.unit.format(balance.remaining)
    return Check("upstream", True, f"key accepted, {remaining} remaining")


async def check_capabilities(ctx: Context) -> Check:
    """What the gateway serves, per family, as a table (the same probes the bot runs)."""
    up = ctx.config.upstream
    capabilities = Capabilities(upstream_client(ctx.session, up, total_timeout=ctx.timeout),
                                up.capabilities)  # fmt: skip
    await capabilities.refresh()
    rows = capabilities.table()
    served = sum(answer == "served" for _, answer, _ in rows)
    width = max(len(family) for family, _, _ in rows)
    table = [f"    {family:<{width}}  {answer:<12}  {source}" for family, answer, source in rows]
    rejected = [family for family, answer, _ in rows if answer == "key rejected"]
    summary = f"{served} of {len(rows)} families served"
    if rejected:
        summary = f"upstream.api_key: rejected on {', '.join(rejected)}; {summary}"
    detail = "\n".join([summary, *table])
    return Check("gateway", not rejected, detail, 2 if rejected else 0)


CHECKS: list[DoctorCheck] = [
    DoctorCheck("database", ("database",), check_database, lambda c: "the database"),
    DoctorCheck("discord", ("discord",), check_discord, lambda c: c.discord.api_base),
    DoctorCheck("upstream", ("upstream",), check_upstream, lambda c: c.upstream.base_url),
    DoctorCheck("gateway", ("upstream",), check_capabilities, lambda c: c.upstream.base_url),
]


def load_leniently(path: Path | None) -> tuple[Config | None, dict[str, str]]:
    """The config, and its problems; faulty keys left out so the rest can still be checked.
    None when the file itself cannot be read."""
    problems: dict[str, str] = {}
    unreadable = str(path or DEFAULT_CONFIG_PATH)
    for _ in range(3):  # leaving a key out can reveal a problem of the section around it
        secrets = {s: {k: PLACEHOLDER_SECRET} for s, k in SECRET_KEYS if f"{s}.{k}" in problems}
        try:
            config = load_config(path, overrides=secrets, drop=[_droppable(k) for k in problems])
        except ConfigError as error:
            problems.update((k, r) for k, r in error.problems if k not in problems)
            if unreadable in problems:
                return None, problems
            continue
        return config, problems
    return None, problems


def _droppable(key: str) -> str:
    """A list item's problem drops the whole list (``chat.models.0.name`` -> ``chat.models``)."""
    parts = key.split(".")
    for index, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:index])
    return key


async def _run_one(check: DoctorCheck, ctx: Context) -> Check:
    bad = {k: r for k, r in ctx.problems.items() if k.split(".")[0] in check.sections}
    if bad:
        key, reason = next(iter(bad.items()))
        return Check(check.name, False, f"{key}: {reason}", ConfigError.exit_code)
    try:
        async with asyncio.timeout(ctx.timeout):
            return await check.run(ctx)
    except OperatorError as error:
        return failed(check.name, error)
    except TimeoutError:
        target = check.target(ctx.config)
        error = ServiceUnreachable(f"no answer from {target} within {ctx.timeout:g} s")
        return failed(check.name, error)


async def _await_with_progress(task: asyncio.Task[Check], name: str, target: str) -> Check:
    started = time.monotonic()
    wait = PROGRESS_AFTER
    while True:
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            return task.result()
        elapsed = time.monotonic() - started
        print(f"doctor: still checking {name} ({target}), {elapsed:.0f} s…", file=sys.stderr)
        wait = PROGRESS_EVERY


async def run_checks(
    config: Config,
    problems: dict[str, str],
    timeout: float,  # noqa: ASYNC109
) -> list[Check]:
    """Every check at once; rows in ``CHECKS`` order."""
    async with aiohttp.ClientSession() as session:
        ctx = Context(config, problems, session, timeout)
        tasks = [asyncio.create_task(_run_one(check, ctx)) for check in CHECKS]
        return [
            await _await_with_progress(task, check.name, check.target(config))
            for check, task in zip(CHECKS, tasks, strict=True)
        ]


def print_report(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.name:<{width}}  {'ok  ' if check.ok else 'FAIL'}  {check.detail}")


async def doctor(args: argparse.Namespace) -> int:
    # Only the report: the libraries' log lines (alembic's, the clients' warnings) stay out.
    logging.disable(logging.CRITICAL)
    try:
        config, problems = load_leniently(args.config)
        rows = [
            Check("config", False, f"{k}: {r}", ConfigError.exit_code) for k, r in problems.items()
        ]
        if config is None:
            rows += [
                Check(c.name, False, "not checked: the configuration cannot be read", 2)
                for c in CHECKS
            ]
        else:
            rows = rows or [Check("config", True, _config_source(args.config))]
            rows += await run_checks(config, problems, args.timeout)
    finally:
        logging.disable(logging.NOTSET)
    print_report(rows)
    return next((c.exit_code for c in rows if not c.ok), 0)


def _config_source(path: Path | None) -> str:
    chosen = path or DEFAULT_CONFIG_PATH
    if chosen.exists():
        return f"valid ({chosen.resolve()})"
    return "valid (no config file: defaults and the environment)"


def add_doctor(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    config_option: argparse.ArgumentParser,
) -> None:
    check = commands.add_parser(
        "doctor",
        parents=[config_option],
        help="check config, database, Discord and upstream; exit with the code `run` would",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"longest wait for each check (default {DEFAULT_TIMEOUT:g})",
    )
    check.set_defaults(async_handler=doctor)
