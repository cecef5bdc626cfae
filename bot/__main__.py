"""Command line: ``atelier run``, ``atelier demo``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import discord

from bot.config import Config, load_config
from bot.doctor import doctor
from bot.errors import ConfigError, SchemaError
from bot.log_setup import setup_logging
from bot.operator_cli import add_commands

EXIT_CONFIG = 2
EXIT_SCHEMA = 3


def _print_config_problems(error: ConfigError) -> int:
    print(f"atelier: the configuration has {len(error.problems)} problem(s):", file=sys.stderr)
    for path, reason in error.problems:
        print(f"  {path}: {reason}", file=sys.stderr)
    return EXIT_CONFIG


def _print_schema_problem(error: SchemaError) -> int:
    print(f"atelier: {error}", file=sys.stderr)
    return EXIT_SCHEMA


def _setup_logging(config: Config) -> None:
    secrets = (config.discord.token.get_secret_value(), config.upstream.api_key.get_secret_value())
    setup_logging(config.logging.level, config.logging.format, secrets)


async def _run(config: Config) -> None:
    from bot.app import AtelierBot
    from bot.services import open_services

    async with open_services(config) as services, AtelierBot(services) as bot:
        loop = asyncio.get_running_loop()
        for signame in ("SIGTERM", "SIGINT"):
            # SIGTERM from Docker or systemd, SIGINT from Ctrl-C: both stop gracefully.
            loop.add_signal_handler(
                getattr(signal, signame), lambda: asyncio.ensure_future(bot.shutdown())
            )
        await bot.start(config.discord.token.get_secret_value())


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _print_config_problems(error)
    _setup_logging(config)
    try:
        asyncio.run(_run(config))
    except discord.LoginFailure:
        return _print_config_problems(ConfigError([("discord.token", "rejected by Discord")]))
    except SchemaError as error:
        return _print_schema_problem(error)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    try:
        return asyncio.run(run_demo(args.config))
    except ConfigError as error:
        return _print_config_problems(error)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier",
        description="Atelier: custom GPTs, Midjourney, Suno and video in Discord, "
        "paid from per-server credit.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": cmd_run,
        "demo": cmd_demo,
    }
    helps = {
        "run": "connect to Discord and serve commands",
        "demo": "play a scripted session against local sandboxes (no token, no network)",
    }
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="config file (default: ./config.toml)",
    )
    for name, handler in handlers.items():
        sub = commands.add_parser(
            name, help=helps[name], description=helps[name], parents=[config_option]
        )
        sub.set_defaults(handler=handler)
    add_commands(commands, config_option)
    check = commands.add_parser(
        "doctor", parents=[config_option], help="check config, database, Discord and upstream"
    )
    check.set_defaults(async_handler=doctor)
    return parser


def _run_async_handler(args: argparse.Namespace) -> int:
    try:
        return int(asyncio.run(args.async_handler(args)))
    except ConfigError as error:
        return _print_config_problems(error)
    except SchemaError as error:
        return _print_schema_problem(error)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "async_handler", None) is not None:
        return _run_async_handler(args)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
