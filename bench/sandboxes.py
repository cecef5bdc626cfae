"""How fast the sandboxes start and stop: every end-to-end test pays this, often several times.

    python bench/sandboxes.py [--runs 50]

Times, over ``--runs`` rounds each: starting and closing the Discord sandbox, starting and
closing the upstream sandbox, and closing the upstream sandbox while a chat stream stalls (it
must not wait for the stream). These were once asserted in tests (under 0.25 s and 1 s), where
a loaded machine could fail them; here they are measured, and the tests check behaviour only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox

CHAT_BODY = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def discord_round() -> tuple[float, float]:
    began = time.monotonic()
    sandbox = DiscordSandbox()
    await sandbox.start()
    started = time.monotonic()
    await sandbox.close()
    return started - began, time.monotonic() - started


async def upstream_round() -> tuple[float, float]:
    began = time.monotonic()
    sandbox = UpstreamSandbox()
    await sandbox.start()
    started = time.monotonic()
    await sandbox.close()
    return started - began, time.monotonic() - started


async def stalled_close_round(http: aiohttp.ClientSession) -> tuple[float, float]:
    sandbox = UpstreamSandbox()
    await sandbox.start()
    sandbox.chat.stall_after_chars = 0
    sandbox.chat.stall_seconds = 30
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    resp = await http.post(
        f"{sandbox.base_url}/v1/chat/completions", json=CHAT_BODY, headers=headers
    )
    began = time.monotonic()
    await sandbox.close()
    resp.close()
    return 0.0, time.monotonic() - began


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"| {name} | {statistics.median(ms):.1f} | {p99:.1f} | {ms[-1]:.1f} |"


async def measure(runs: int, round_: Callable[[], Awaitable[tuple[float, float]]]):
    starts, closes = [], []
    for _ in range(runs):
        start, close = await round_()
        starts.append(start)
        closes.append(close)
    return starts, closes


async def main(runs: int) -> None:
    discord_starts, discord_closes = await measure(runs, discord_round)
    upstream_starts, upstream_closes = await measure(runs, upstream_round)
    async with aiohttp.ClientSession() as http:
        _, stalled = await measure(runs, lambda: stalled_close_round(http))
    print(f"{runs} rounds each; milliseconds")
    print("| step | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    print(row("Discord sandbox: start", discord_starts))
    print(row("Discord sandbox: close", discord_closes))
    print(row("upstream sandbox: start", upstream_starts))
    print(row("upstream sandbox: close", upstream_closes))
    print(row("upstream sandbox: close during a stalled stream", stalled))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))
