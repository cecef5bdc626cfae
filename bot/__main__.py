"""Command line: ``atelier run``, ``atelier demo``, ``atelier doctor`` and the operator verbs.

Exit codes (the README's "Exit codes" table): 0 done; 1 a check found a problem (``ledger
check``, ``db current``) or an unexpected error; 2 a setting or argument is wrong, or refused
by its service; 3 the database schema is not this build's; 4 Discord or the database cannot be
reached; 5 the Discord application lacks a developer-portal setting; 6 an optional part is not
installed; 7 Discord refused the slash commands (a defect of the build). Every ordinary
failure is an ``OperatorError`` printed here, in one place.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Config, load_config
from bot.doctor import add_doctor
from bot.errors import ConfigError, OperatorError, SchemaError
from bot.log_setup import setup_logging
from bot.operator_cli import add_commands

EXIT_CONFIG = ConfigError.exit_code
EXIT_SCHEMA = SchemaError.exit_code
EXIT_UNEXPECTED = 1


def report(error: OperatorError) -> int:
    """Print an ordinary failure (with its traceback only at log level DEBUG); its exit code."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, ConfigError):
        print(f"atelier: the configuration has {len(error.problems)} problem(s):", file=sys.stderr)
        for path, reason in error.problems:
            print(f"  {path}: {reason}", file=sys.stderr)
    else:
        print(f"atelier: {error}", file=sys.stderr)
    return error.exit_code


def _setup_logging(config: Config) -> None:
    secrets = (config.discord.token.get_secret_value(), config.upstream.api_key.get_secret_value())
    setup_logging(config.logging.level, config.logging.format, secrets)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.startup import run

    config = load_config(args.config)
    _setup_logging(config)
    asyncio.run(run(config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(args.config))


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
    add_doctor(commands, config_option)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "async_handler", None) is not None:
            return int(asyncio.run(args.async_handler(args)))
        return int(args.handler(args))
    except OperatorError as error:
        return report(error)
    except KeyboardInterrupt:
        # Ctrl-C before the bot's own handlers are installed (``run`` handles it after).
        return 0
    except Exception:
        traceback.print_exc()
        print("atelier: unexpected error (a bug: please report it with the above)", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
