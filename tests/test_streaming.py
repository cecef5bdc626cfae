"""StreamingReply against an in-memory target: pacing, latest-wins, splitting, widening."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from bot.splitting import CLOSE, DISCORD_LIMIT
from bot.streaming import FOOTER_RESERVE, Pacing, StreamingReply, WriteBudget
from tests.helpers import ManualClock, wait_until

FAST = Pacing(interval=0.05, max_interval=0.4, first_chars=10, first_wait=0.02)


class ReadingClock:
    """time.monotonic that remembers its last reading.

    The reply reads its clock just before each write, so a target that records ``last`` gets
    the very instant the reply paced that write from, however late the event loop runs.
    """

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> float:
        self.last = time.monotonic()
        return self.last


class FakeTarget:
    def __init__(
        self,
        latency: float = 0.0,
        limited_every: int = 0,
        limited_calls: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
        budget: WriteBudget | None = None,
    ) -> None:
        self.messages: list[str] = []
        # Spent per write, as the bot's HTTP session spends it on each request it sends.
        self.budget = budget
        self.calls: list[tuple[float, int, str]] = []  # (clock when the write began, index, text)
        self.clock = clock
        self.latency = latency
        self.limited_every = limited_every
        self.limited_calls = limited_calls  # 1-based numbers of the writes that meet a 429
        self.limits = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def _call(self, index: int, content: str) -> None:
        if self.budget is not None:
            await self.budget.acquire()
        began = self.clock()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.latency)
        self.in_flight -= 1
        self.calls.append((began, index, content))
        if self.limited_every and len(self.calls) % self.limited_every == 0:
            self.limits += 1
        if len(self.calls) in self.limited_calls:
            self.limits += 1

    async def add(self, content: str) -> None:
        await self._call(len(self.messages), content)
        self.messages.append(content)

    async def edit(self, index: int, content: str) -> None:
        await self._call(index, content)
        self.messages[index] = content

    def rate_limited(self, index: int) -> int:
        return self.limits


async def feed_slowly(reply: StreamingReply, text: str, step: int, pace: float) -> None:
    for i in range(0, len(text), step):
        reply.feed(text[i : i + step])
        await asyncio.sleep(pace)


async def test_latest_text_wins_and_edits_are_paced() -> None:
    clock = ReadingClock()
    target = FakeTarget(latency=0.01, clock=lambda: clock.last)
    reply = StreamingReply(target, pacing=FAST, clock=clock)
    fed: list[str] = []  # the text fed so far when each write began
    real_call = target._call

    async def call(index: int, content: str) -> None:
        fed.append(reply.text)
        await real_call(index, content)

    target._call = call  # type: ignore[method-assign]
    reply.start()
    text = "word " * 200
    began = time.monotonic()
    await feed_slowly(reply, text, 5, 0.002)
    fed_for = time.monotonic() - began
    await reply.finish("— gpt-4o · 3 credits")
    assert target.messages == [text + "\n— gpt-4o · 3 credits"]
    # Every write carries all the text there was when it began: the latest text wins.
    assert [content for _, _, content in target.calls[:-1]] == [f"{t} ▌" for t in fed[:-1]]
    # Paced from the instant each write was sent (the clock the reply read), so the gaps hold
    # exactly, however slowly the machine runs; only the final write goes without waiting.
    times = [t for t, _, _ in target.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)][:-1]
    assert all(gap >= FAST.interval - 1e-9 for gap in gaps), gaps
    assert target.max_in_flight == 1
    # 200 chunks did not become 200 edits: one per interval of feeding at most, plus the final.
    assert len(target.calls) <= fed_for / FAST.interval + 2


async def test_long_answer_is_split_with_fences_and_nothing_lost() -> None:
    target = FakeTarget()
    reply = StreamingReply(target, pacing=FAST, limit=400)
    reply.start()
    text = "Intro paragraph.\n\n```python\n" + "x = 1\n" * 150 + "```\nDone."
    await feed_slowly(reply, text, 40, 0.001)
    await reply.finish("footer")
    assert all(len(m) <= 400 for m in target.messages)
    assert target.messages[-1].endswith("\nfooter")
    joined = "\n".join(target.messages).removesuffix("\nfooter")
    rebuilt = joined.replace(CLOSE + "\n```python\n", "")
    assert rebuilt == text


async def test_interval_widens_after_rate_limits_and_final_text_arrives() -> None:
    target = FakeTarget(limited_every=2)
    reply = StreamingReply(target, pacing=FAST)
    reply.start()
    await feed_slowly(reply, "abcdefghij" * 60, 10, 0.01)
    # The second write meets the first 429, however late it comes; from then on every other
    # write does, so the interval stays above the configured pace.
    await wait_until(lambda: target.limits > 0)
    assert reply.interval > FAST.interval
    await reply.finish("end")
    assert target.messages == ["abcdefghij" * 60 + "\nend"]
    assert reply.rate_limits > 0


async def test_interval_narrows_back_to_the_configured_pace_after_successes() -> None:
    target = FakeTarget(limited_calls=frozenset({2, 3}))
    reply = StreamingReply(target, pacing=FAST)
    reply.start()
    intervals: list[float] = []
    # About 1.5 s of text, and more while the machine is too slow for the nine successes it
    # takes to come back down (they need about 1.2 s; 30 s is out of a correct program's reach).
    while len(intervals) < 150 or (reply.interval > FAST.interval and len(intervals) < 3000):
        reply.feed("more text ")
        intervals.append(reply.interval)
        await asyncio.sleep(0.01)
    await reply.finish("end")
    # Two 429s doubled it twice; every success since took 15% off, down to the configured pace.
    assert max(intervals) == FAST.interval * FAST.widen**2
    assert intervals[-1] == FAST.interval
    peak = intervals.index(max(intervals))
    after = intervals[peak:]
    assert all(b <= a for a, b in itertools.pairwise(after))
    assert len(set(after)) > 5  # it came down step by step, not in one jump
    assert target.messages == ["more text " * len(intervals) + "\nend"]


async def test_first_text_waits_for_a_meaningful_amount() -> None:
    clock = ManualClock()
    target = FakeTarget()
    reply = StreamingReply(target, pacing=Pacing(first_chars=50, first_wait=0.2), clock=clock)
    reply.start()
    reply.feed("Hi")
    clock.advance(0.19)
    await asyncio.sleep(0.3)  # longer than first_wait in real time too: the clock decides
    assert target.calls == []
    clock.advance(0.01)
    await wait_until(lambda: target.messages == ["Hi ▌"])
    await reply.finish("")
    assert target.messages == ["Hi"]


async def test_budget_widens_intervals_for_many_streams() -> None:
    budget = WriteBudget(per_second=200)
    targets = [FakeTarget(budget=budget) for _ in range(20)]
    replies = [StreamingReply(t, pacing=FAST, budget=budget) for t in targets]
    started = time.monotonic()
    for reply in replies:
        reply.start()
    assert budget.share_interval() == 20 / 200
    await asyncio.gather(*(feed_slowly(r, "text " * 40, 5, 0.005) for r in replies))
    await asyncio.gather(*(r.finish("") for r in replies))
    assert budget.active == 0
    # The budget hands out one slot per 1/200 s from the start and no write begins before its
    # slot: the n-th write began at least (n - 1) / 200 s in, on any machine.
    calls = sorted(t for target in targets for t, _, _ in target.calls)
    assert len(calls) > 20
    assert len(calls) <= 200 * (calls[-1] - started) + 1 + 1e-6


async def stream_whole(text: str, footer: str, step: int = 50) -> list[str]:
    """Messages of ``text`` streamed at Discord's size limit and finished with ``footer``."""
    target = FakeTarget()
    reply = StreamingReply(target, pacing=FAST)
    reply.start()
    await feed_slowly(reply, text, step, 0.001)
    await reply.finish(footer)
    return target.messages


async def test_a_long_footer_moves_the_last_lines_instead_of_passing_the_limit() -> None:
    # 1,850 characters fill one message while streaming; a 200-character GPT name in the footer
    # would make it 2,069 characters, which Discord refuses.
    text = "".join(f"Sentence number {i:03d} of the answer. " for i in range(60))[:1850]
    footer = f"-# {'N' * 200} · 12 credits"
    assert len(text) + 1 + len(footer) > DISCORD_LIMIT > len(text) + FOOTER_RESERVE
    messages = await stream_whole(text, footer)
    assert len(messages) == 2
    assert all(len(m) <= DISCORD_LIMIT for m in messages)
    assert messages[-1].endswith("\n" + footer) and "▌" not in "".join(messages)
    assert "".join(messages).removesuffix("\n" + footer) == text
    assert len(messages[0]) >= len(text) // 2  # the earlier message keeps most of the text


async def test_a_long_footer_after_code_reopens_the_fence_in_the_extra_message() -> None:
    text = "Here it is:\n\n```python\n" + "".join(f"row_{i} = {i}\n" for i in range(180))
    text = text[:1860]
    footer = "-# ⚠️ The answer was cut off: " + "r" * 500 + "\n-# GPT · 5 credits"
    messages = await stream_whole(text, footer)
    assert all(len(m) <= DISCORD_LIMIT for m in messages)
    assert messages[-1].startswith("```python\n") and messages[-1].endswith("\n" + footer)
    joined = "\n".join(messages).removesuffix("\n" + footer)
    assert joined.replace(CLOSE + "\n```python\n", "").removesuffix(CLOSE) == text


async def test_a_footer_over_half_a_message_is_shortened_and_the_text_kept() -> None:
    text = "word " * 300
    messages = await stream_whole(text, "-# " + "é" * 1500)
    assert all(len(m) <= DISCORD_LIMIT for m in messages)
    assert messages[-1].endswith("é…") and len(messages[-1]) - messages[-1].index("-# ") == 1000
    assert "".join(messages).startswith(text + "\n-# ")


async def test_a_live_status_ticks_while_no_chunk_arrives_paced_like_any_edit() -> None:
    """A reasoning model may think for a minute without sending a chunk: the status still
    counts the seconds. Time here is a ManualClock, so each advance allows exactly one edit
    (the next is due an interval later on that clock), however slowly the machine runs."""
    clock = ManualClock()
    target = FakeTarget()
    pacing = Pacing(interval=1.25, first_chars=1, status_tick=0.01)
    reply = StreamingReply(target, pacing=pacing, clock=clock)
    reply.start()
    reply.live_status(lambda seconds: f"Thinking… {int(seconds)} s")
    await wait_until(lambda: target.messages == ["Thinking… 0 s ▌"])
    for shown in (5, 9, 30):
        writes = len(target.calls)
        clock.advance(shown - int(clock.now - 1000.0))
        await wait_until(lambda shown=shown: target.messages == [f"Thinking… {shown} s ▌"])
        assert len(target.calls) == writes + 1
    # Less than an interval after the last edit, a new second waits for the message's pacing.
    clock.advance(1.0)
    await asyncio.sleep(0.1)
    assert target.messages == ["Thinking… 30 s ▌"]
    clock.advance(0.25)
    await wait_until(lambda: target.messages == ["Thinking… 31 s ▌"])
    reply.feed("The answer.")
    clock.advance(1.25)
    await wait_until(lambda: target.messages == ["The answer. ▌"])
    await reply.finish("")
    assert target.messages == ["The answer."]
