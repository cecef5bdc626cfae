"""``python -m bot.sandbox.serve CONFIG``: both sandboxes on 127.0.0.1 until SIGTERM or Ctrl-C.

For running a real bot process (say the container image in scripts/image_check.sh) against the
sandboxes: it writes a config.toml that points the bot at them, then serves until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox


def _toml(sections: dict[str, dict[str, object]]) -> str:
    # JSON's strings, numbers and lists of them are valid TOML values.
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)  # read by the container's own user


async def serve(config_path: Path, database_url: str) -> None:
    async with DiscordSandbox() as discord, UpstreamSandbox() as upstream:
        guild = discord.add_guild(name="Atelier Sandbox")
        config = {
            "discord": {
                "token": discord.token,
                "api_base": discord.api_base,
                "gateway_url": discord.gateway_url,
                "owner_ids": [guild.owner_id],
                "sync_guild_ids": [guild.id],
            },
            "upstream": {"base_url": upstream.base_url, "api_key": upstream.api_key},
            "database": {"url": database_url},
            "chat": {"refresh_models": False},
        }
        _write(config_path, _toml(config))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"sandboxes ready; config written to {config_path}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox.serve", description=__doc__)
    parser.add_argument("config", type=Path, help="where to write the bot's config.toml")
    parser.add_argument(
        "--database-url", default="sqlite+aiosqlite:///atelier.db", help="[database] url to write"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.config, args.database_url))


if __name__ == "__main__":
    main()
