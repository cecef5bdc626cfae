"""Operating the bot: doctor, JSON logs with ids, metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import main
from bot.log_setup import ContextFilter, JsonFormatter, bind
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, final_answer, private_reply, run_slash, wait_until


def write_config(path: Path, discord: DiscordSandbox, upstream: UpstreamSandbox, *, token: str,
                 key: str, db: str) -> Path:  # fmt: skip
    path.write_text(
        f'[discord]\ntoken = "{token}"\napi_base = "{discord.api_base}"\n'
        f'gateway_url = "{discord.gateway_url}"\n'
        f'[upstream]\nbase_url = "{upstream.base_url}"\napi_key = "{key}"\n'
        f'[database]\nurl = "{db}"\n'
    )
    return path


async def test_doctor_reports_each_broken_setting_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with DiscordSandbox() as discord, UpstreamSandbox() as upstream:
        good_db = f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}"
        config = write_config(tmp_path / "good.toml", discord, upstream, token=discord.token,
                              key=upstream.api_key, db=good_db)  # fmt: skip
        assert await asyncio.to_thread(main, ["doctor", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert out.count(" ok ") == 5 and "$12.65 remaining" in out
        assert "gateway   ok    19 of 19 families served" in out  # the union serves all

        bad = write_config(tmp_path / "bad.toml", discord, upstream, token="wrong-token-123",
                           key="sk-wrong-key-456",
                           db=f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")  # fmt: skip
        # The first failing row's code, the one `atelier run` exits with: 2, a setting.
        assert await asyncio.to_thread(main, ["doctor", "--config", str(bad)]) == 2
        out = capsys.readouterr().out
        assert "discord.token: rejected by Discord" in out
        assert "upstream.api_key: rejected" in out
        assert f"database.url: the folder {tmp_path / 'missing'} of the SQLite file" in out
        assert "wrong-token-123" not in out and "sk-wrong-key-456" not in out

    broken = tmp_path / "broken.toml"
    broken.write_text('[discord]\ntoken = "t"\napi_base = "nope"\n')
    assert await asyncio.to_thread(main, ["doctor", "--config", str(broken)]) == 2
    out = capsys.readouterr().out
    assert "discord.api_base: must be a URL" in out and "upstream.api_key: missing" in out


def test_json_logs_carry_ids_and_mask_secrets() -> None:
    record_holder: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_holder.append(self.format(record))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter(["sk-very-secret-key"]))
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        token = bind(guild=1, member=2, command="gpt", job=3)
        logger.info("calling with %s", "sk-very-secret-key")
        from bot.log_setup import _context

        _context.reset(token)
    finally:
        logger.removeHandler(handler)
    entry = json.loads(record_holder[0])
    assert (entry["guild"], entry["member"], entry["command"], entry["job"]) == (1, 2, "gpt", 3)
    assert entry["message"] == "calling with ***"


async def test_metrics_endpoint_counts_commands_and_upstream_calls() -> None:
    config = {"chat": FAST_CHAT, "metrics": {"listen": "127.0.0.1:0"}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "hello", "private": True})
        await final_answer(world, handle)
        port = world.services.metrics.port
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                body = await resp.text()
        assert 'atelier_commands_total{command="gpt",outcome="ok"} 1.0' in body
        assert (
            'atelier_upstream_requests_total{route="/v1/chat/completions",status="200"} 1.0' in body
        )
        assert "atelier_credits_spent 2.0" in body
        assert 'atelier_jobs{state="pending"} 0.0' in body
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert (resp.status, await resp.text()) == (200, "ok")


async def test_graceful_shutdown_lets_the_stream_finish_and_refuses_new_commands() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.chat.reply = "slow words " * 60
        world.upstream.chat.pace = 0.01
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "go", "private": True})
        await wait_until(lambda: world.bot.work.running == 1)
        stopping = asyncio.create_task(world.bot.shutdown())
        await wait_until(lambda: world.bot.draining)
        late = await run_slash(world, member, "credit balance")
        assert "restarting" in (await private_reply(world, late)).content
        await stopping
        [answer] = world.discord.interaction_messages(handle)
        assert answer.content.startswith("slow words") and "\n-# gpt-4o-mini" in answer.content
        assert await world.services.ledger.open_holds() == []
        await world.restart_bot()  # close the stopped bot's services; teardown expects a bot


async def test_metrics_count_discord_429s_by_route() -> None:
    config = {"metrics": {"listen": "127.0.0.1:0"}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        # discord.py waits and retries a 429 by itself; only the metric tells the operator.
        world.discord.inject("POST", r"/interactions/\d+/[^/]+/callback$", times=2,
                             retry_after=0.05)  # fmt: skip
        for _ in range(2):
            reply = await private_reply(world, await run_slash(world, member, "credit balance"))
            assert "credits" in reply.content
        assert world.services.traffic.total_429 == 2
        port = world.services.metrics.port
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                body = await resp.text()
        lines = [line for line in body.splitlines() if line.startswith("atelier_discord_rate")]
        # Interaction ids and tokens are replaced: one series per route, not per interaction.
        assert lines == [
            'atelier_discord_rate_limited_total{route="/api/v10/interactions/{id}/{token}/callback"}'
            " 2.0"
        ]
