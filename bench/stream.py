"""Streaming benchmark: N concurrent /gpt answers or thread conversations, through the sandboxes.

    python bench/stream.py [--n 1,10,50,100] [--mode interaction,thread,reasoning]
                           [--edit-interval S] [--think S]

Each (mode, N) runs in a fresh ``SandboxWorld`` with the default configuration (pacing included,
unless --edit-interval is given) and the sandbox Discord's default limits: 5 requests per 5 s
per bucket, 50 a second globally. The upstream streams every answer at a steady pace and logs when
each chunk left it; the sandbox Discord keeps a snapshot of every message after each create and
edit. The figures come from those two logs only, never from the bot's own bookkeeping. The bot,
both sandboxes and this script share one process and one event loop. BENCHMARKS.md explains
every column. The reasoning mode is the interaction mode with a model that first streams
reasoning (``reasoning_content``) for --think seconds: the reply shows the live status, and the
figures are those of the answer text once it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.discord import Message
from bot.sandbox.upstream import StreamLog
from bot.sandbox.world import SandboxWorld

CHUNK_CHARS = 40
PACE = 0.1  # seconds between chunks: 400 characters a second
# Thirteen answer lengths, 2,000 to 4,400 characters in steps of 200 (5 to 11 s of streaming),
# spread over the N answers: they end at many phases of the 5-second bucket windows of their
# first, second and third messages, and at N = 100 about eight of them end in the same instant.
MIN_CHARS = 2_000
STEP_CHARS = 200
LENGTHS = 13
POLL = 0.2
ANSWER_TIMEOUT = 90.0
MARKER = " ▌"
FOOTER = "\n-# "
SENTENCES = (
    "The kiln cools slowly overnight, and the glaze settles into the texture we wanted.",
    "Clay that dries unevenly cracks, so the workshop keeps its shelves away from the window.",
    "A steady hand matters less than a steady wheel; the rhythm carries the shape upward.",
    "Every apprentice learns to wedge the clay before learning to throw it.",
    "Ash glazes run where they please, which is half of their charm and all of their risk.",
)


# -- the upstream's side ---------------------------------------------------------------------
def reply_for(tag: str, chars: int) -> str:
    """Prose of exactly ``chars`` characters, distinct per tag, with paragraph breaks."""
    text = f"Answer to {tag}."
    n = 0
    while len(text) < chars:
        text += ("\n\n" if n and n % 4 == 0 else " ") + SENTENCES[n % len(SENTENCES)]
        n += 1
    return text[:chars]


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m.get("role") == "user"]
    content = users[-1]["content"] if users else ""
    return content if isinstance(content, str) else ""


def stream_slowly(world: SandboxWorld, prompts: Sequence[str]) -> list[StreamLog]:
    """From now on the upstream answers each prompt at a steady pace and logs every chunk."""
    n = len(prompts)
    chars = {p: MIN_CHARS + STEP_CHARS * (i * LENGTHS // n) for i, p in enumerate(prompts)}
    chat = world.upstream.chat
    chat.reply = lambda body: reply_for(last_user_text(body), chars[last_user_text(body)])
    chat.chunk_chars, chat.pace = CHUNK_CHARS, PACE
    chat.stream_logs = []
    return chat.stream_logs


def pair_up(
    logs: list[StreamLog], prompts: Sequence[str], answers: Sequence[Sequence[Message]]
) -> list[tuple[StreamLog, Sequence[Message]]]:
    """Each answer with the upstream log of its request (an answer without one is skipped)."""
    by_prompt = {last_user_text(log.body): log for log in logs}
    return [(by_prompt[p], a) for p, a in zip(prompts, answers, strict=True) if p in by_prompt]


# -- what members saw ------------------------------------------------------------------------
def shown_text(content: str) -> str:
    """What a message shows of the answer: no in-progress marker, no footer."""
    content = content.removesuffix(MARKER)
    return content.rsplit(FOOTER, 1)[0] if FOOTER in content else content


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def visibility(messages: Sequence[Message], reply: str) -> list[tuple[float, int]]:
    """(sandbox time, characters of ``reply`` readable from its start) after each change.

    The answer's messages are read together: text in a later message only counts once every
    earlier message shows all of its part.
    """
    events = sorted(
        (t, index, content)
        for index, message in enumerate(messages)
        for t, content, _embeds in message.history
    )
    current = [""] * len(messages)
    seen = 0
    out: list[tuple[float, int]] = []
    for t, index, content in events:
        current[index] = shown_text(content)
        visible = common_prefix("".join(current), reply)
        if visible > seen:
            seen = visible
            out.append((t, visible))
    return out


def per_character(log: Sequence[tuple[float, int]], length: int) -> list[float]:
    """For each character index below ``length``, the first time ``log``'s count passes it."""
    times: list[float] = []
    for t, count in log:
        while len(times) < min(count, length):
            times.append(t)
    return times


def is_final(messages: Sequence[Message]) -> bool:
    return bool(messages) and FOOTER in messages[-1].content and MARKER not in messages[-1].content


@dataclass
class Measured:
    first_visible: list[float] = field(default_factory=list)
    staleness: list[float] = field(default_factory=list)  # one entry per character
    tails: list[float] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)
    complete: int = 0


def measure(answers: Sequence[tuple[StreamLog, Sequence[Message]]], offset: float) -> Measured:
    """``offset`` turns the upstream's ``time.monotonic()`` into the sandbox Discord's clock."""
    result = Measured()
    for log, messages in answers:
        reply = log.reply
        sent_at = per_character([(t - offset, n) for t, n in log.sent], len(reply))
        seen_at = per_character(visibility(messages, reply), len(reply))
        # Creates and edits that carried text (the deferred "thinking" reply carries none).
        result.writes.append(sum(1 for m in messages for _, text, _ in m.history if text))
        if seen_at:
            result.first_visible.append(seen_at[0] - sent_at[0])
        result.staleness.extend(v - s for s, v in zip(sent_at, seen_at, strict=False))
        if len(seen_at) == len(reply) and is_final(messages) and log.ended is not None:
            result.complete += 1
            final_write = max(t for m in messages for t, _, _ in m.history)
            result.tails.append(final_write - (log.ended - offset))
    return result


def clock_offset(world: SandboxWorld) -> float:
    """time.monotonic() minus the sandbox Discord's clock (monotonic seconds since its start)."""
    return time.monotonic() - world.discord.clock.now()


# -- the runs --------------------------------------------------------------------------------
@dataclass
class Row:
    mode: str
    n: int
    measured: Measured
    rate_limited: int
    setup_rate_limited: int
    cpu: float
    wall: float


async def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            logging.warning("gave up waiting for %s after %.0fs", what, seconds)
            return
        await asyncio.sleep(POLL)


async def prepare(world: SandboxWorld, n: int) -> tuple[list[int], list[int]]:
    """N channels (in the bot's cache, so threads can open) and N members."""
    channels = [world.discord.add_channel(world.guild_id, f"bench-{i}") for i in range(n)]
    members = [world.add_member(f"member-{i}") for i in range(n)]
    bot = world.bot
    assert bot is not None
    await wait_for(lambda: all(bot.get_channel(c) for c in channels), 10, "channels")
    return channels, members


def bot_messages(world: SandboxWorld) -> dict[int, list[Message]]:
    """The bot's messages by channel, in one pass over the store."""
    out: dict[int, list[Message]] = {}
    bot_id = world.discord.bot_user_id
    for message in list(world.discord.store.messages.values()):
        if message.author_id == bot_id and not message.deleted:
            out.setdefault(message.channel_id, []).append(message)
    return out


REASONING = "Weighing the glaze against the clay body, one step at a time. " * 40


async def run_interactions(n: int, config: dict[str, Any], think: float = 0.0) -> Row:
    async with SandboxWorld(config=config) as world:
        channels, members = await prepare(world, n)
        prompts = [f"question {i}" for i in range(n)]
        logs = stream_slowly(world, prompts)
        if think:
            world.upstream.chat.reasoning, world.upstream.chat.think_seconds = REASONING, think
        cpu0, wall0 = time.process_time(), time.monotonic()
        handles = [
            await world.discord.slash(
                world.guild_id, channels[i], members[i], "gpt", {"prompt": prompts[i]}
            )
            for i in range(n)
        ]

        def answers() -> list[list[Message]]:
            return [world.discord.interaction_messages(h) for h in handles]

        await wait_for(lambda: all(is_final(a) for a in answers()), ANSWER_TIMEOUT, "answers")

        def threads_opened() -> bool:
            # After each answer the bot opens a thread on it and posts a hint there.
            by_channel = bot_messages(world)
            return all(h.original_message_id in by_channel for h in handles)

        await wait_for(threads_opened, 30, "threads")
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        measured = measure(pair_up(logs, prompts, answers()), clock_offset(world))
        mode = "reasoning" if think else "interaction"
        return Row(mode, n, measured, world.discord.count_429(), 0, cpu, wall)


async def run_threads(n: int, config: dict[str, Any]) -> Row:
    async with SandboxWorld(config=config) as world:
        channels, members = await prepare(world, n)
        # Setup: N conversations opened by /gpt at once, with a short, fast first answer.
        world.upstream.chat.reply = "A short first answer; the conversation continues below."
        handles = [
            await world.discord.slash(
                world.guild_id, channels[i], members[i], "gpt", {"prompt": f"topic {i}"}
            )
            for i in range(n)
        ]

        def hinted() -> bool:
            # A thread takes its message's id; the bot posts a hint in it once it is open.
            by_channel = bot_messages(world)
            return all(h.original_message_id in by_channel for h in handles)

        await wait_for(hinted, 60, "conversation threads")
        threads = [h.original_message_id or 0 for h in handles]
        setup_429 = world.discord.count_429()

        prompts = [f"follow-up {i}" for i in range(n)]
        logs = stream_slowly(world, prompts)
        cpu0, wall0 = time.process_time(), time.monotonic()
        asked = [
            await world.discord.post_user_message(thread, members[i], prompts[i])
            for i, thread in enumerate(threads)
        ]

        def answers() -> list[list[Message]]:
            by_channel = bot_messages(world)
            return [
                [m for m in by_channel.get(thread, []) if m.id > asked[i]]
                for i, thread in enumerate(threads)
            ]

        await wait_for(lambda: all(is_final(a) for a in answers()), ANSWER_TIMEOUT, "answers")
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        # The bot stores the turns after the final edit; let it finish before the world closes.
        assert world.services is not None
        conversations = world.services.conversations
        for thread in threads:
            for _ in range(int(10 / POLL)):
                info = await conversations.by_channel(thread)
                if info is None or len(await conversations.turns(info.id)) >= 4:
                    break
                await asyncio.sleep(POLL)
        measured = measure(pair_up(logs, prompts, answers()), clock_offset(world))
        total_429 = world.discord.count_429()
        return Row("thread", n, measured, total_429 - setup_429, setup_429, cpu, wall)


# -- the table -------------------------------------------------------------------------------
HEADER = (
    "| mode | N | complete | first visible p50 / max (s) | staleness p50 / p95 / max (s) "
    "| tail p50 / max (s) | writes / answer | 429s | CPU s / answer |"
)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN when there is nothing to rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def table_row(row: Row) -> str:
    m = row.measured
    nan = float("nan")
    writes = sum(m.writes) / len(m.writes) if m.writes else nan
    rate_limited = str(row.rate_limited)
    if row.setup_rate_limited:
        rate_limited += f" (+{row.setup_rate_limited} in setup)"
    return (
        f"| {row.mode} | {row.n} | {m.complete}/{row.n} "
        f"| {pct(m.first_visible, 50):.2f} / {max(m.first_visible, default=nan):.2f} "
        f"| {pct(m.staleness, 50):.2f} / {pct(m.staleness, 95):.2f} / "
        f"{max(m.staleness, default=nan):.2f} "
        f"| {pct(m.tails, 50):.2f} / {max(m.tails, default=nan):.2f} "
        f"| {writes:.1f} | {rate_limited} | {row.cpu / row.n:.3f} |"
    )


async def run_reasoning(n: int, config: dict[str, Any], think: float) -> Row:
    return await run_interactions(n, config, think)


async def main(
    ns: Sequence[int], modes: Sequence[str], edit_interval: float | None, think: float = 10.0
) -> None:
    runners: dict[str, Callable[[int, dict[str, Any]], Any]] = {
        "interaction": run_interactions,
        "thread": run_threads,
        "reasoning": lambda n, config: run_reasoning(n, config, think),
    }
    chat: dict[str, Any] = {"refresh_models": False}
    if edit_interval is not None:
        chat["edit_interval"] = edit_interval
    # Credit is not what is measured: enough for every hold at once.
    config = {"chat": chat, "credit": {"starting_balance": 10_000_000}}
    longest = MIN_CHARS + STEP_CHARS * (LENGTHS - 1)
    print(
        f"upstream: {MIN_CHARS}-{longest} chars per answer, {CHUNK_CHARS} chars every {PACE} s; "
        f"Discord buckets 5 per 5 s, global 50/s; edit_interval "
        f"{'default' if edit_interval is None else edit_interval}",
        flush=True,
    )
    rows = []
    started = time.monotonic()
    for mode in modes:
        for n in ns:
            row = await runners[mode](n, config)
            rows.append(row)
            print(f"  {mode} N={n}: {row.wall:.1f} s", flush=True)
    print(HEADER)
    print("|" + "---|" * (HEADER.count(" | ") + 1))
    for row in rows:
        print(table_row(row))
    print(f"total {time.monotonic() - started:.0f} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1,10,50,100", help="comma-separated answer counts")
    parser.add_argument(
        "--mode", default="interaction,thread", help="interaction, thread and/or reasoning"
    )
    parser.add_argument("--think", type=float, default=10.0, help="reasoning mode: seconds")
    parser.add_argument(
        "--edit-interval", type=float, default=None, help="override chat.edit_interval (s)"
    )
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # "PyNaCl is not installed"
    asyncio.run(
        main(
            [int(x) for x in args.n.split(",")],
            [m.strip() for m in args.mode.split(",")],
            args.edit_interval,
            args.think,
        )
    )
