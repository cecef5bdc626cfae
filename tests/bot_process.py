"""A real ``python -m bot run`` process against the sandboxes, as an operator would run it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(
    path: Path,
    discord: DiscordSandbox,
    upstream: UpstreamSandbox,
    database_url: str,
    /,
    **sections: Mapping[str, Any],
) -> Path:
    """A config file aimed at the sandboxes with JSON logs; ``sections`` add or override keys."""
    merged: dict[str, dict[str, Any]] = {
        "discord": {
            "token": discord.token,
            "api_base": discord.api_base,
            "gateway_url": discord.gateway_url,
        },
        "upstream": {"base_url": upstream.base_url, "api_key": upstream.api_key},
        "database": {"url": database_url},
        "chat": {"refresh_models": False},
        "logging": {"format": "json", "level": "INFO"},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    path.write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
            for name, values in merged.items()
        ),
        encoding="utf-8",
    )
    return path


class BotProcess:
    """One bot process; its output goes to ``log`` (JSON lines with the config above)."""

    def __init__(self, config: Path, log: Path, discord: DiscordSandbox, *, shard: int = 0) -> None:
        self.config, self.log, self.discord, self.shard = config, log, discord, shard
        self.process: asyncio.subprocess.Process | None = None

    def _readies(self) -> int:
        return sum(
            1
            for f in self.discord.gateway_log
            if f["event"] == "READY" and (f.get("shard") or [0])[0] == self.shard
        )

    async def start(self, timeout: float = 60.0) -> None:
        """Start and wait until this process's shard is connected (READY)."""
        readies = self._readies()
        # The environment could point the bot elsewhere (ATELIER_DATABASE_URL and friends).
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("ab") as handle:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--config", str(self.config),
                stdout=handle, stderr=handle, env=env, cwd=ROOT,
            )  # fmt: skip
        process = self.process

        def connected_or_gone() -> bool:
            return self._readies() > readies or process.returncode is not None

        await wait_until(connected_or_gone, timeout)
        assert process.returncode is None, self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    async def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if that does not end it: for test teardown."""
        if self.process is None or self.process.returncode is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            await self.wait(30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def entries(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, message_start: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("message", "").startswith(message_start)]
