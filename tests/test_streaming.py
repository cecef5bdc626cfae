"""StreamingReply against an in-memory target: pacing, latest-wins, splitting, widening."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.splitting import CLOSE
from bot.streaming import Pacing, StreamingReply, WriteBudget

FAST = Pacing(interval=0.05, max_interval=0.4, first_chars=10, first_wait=0.02)


class FakeTarget:
    def __init__(self, latency: float = 0.0, limited_every: int = 0) -> None:
        self.messages: list[str] = []
        self.calls: list[tuple[float, int, str]] = []
        self.latency = latency
        self.limited_every = limited_every
        self.limits = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def _call(self, index: int, content: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.latency)
        self.in_flight -= 1
        self.calls.append((time.monotonic(), index, content))
        if self.limited_every and len(self.calls) % self.limited_every == 0:
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
    target = FakeTarget(latency=0.01)
    reply = StreamingReply(target, pacing=FAST)
    reply.start()
    text = "word " * 200
    await feed_slowly(reply, text, 5, 0.002)
    await reply.finish("— gpt-4o · 3 credits")
    assert target.messages == [text + "\n— gpt-4o · 3 credits"]
    times = [t for t, index, _ in target.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)][:-1]
    assert all(gap >= FAST.interval * 0.9 for gap in gaps)
    assert target.max_in_flight == 1
    assert len(target.calls) < 20  # 200 chunks did not become 200 edits


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
    assert reply.interval > FAST.interval
    await reply.finish("end")
    assert target.messages == ["abcdefghij" * 60 + "\nend"]
    assert reply.rate_limits > 0


async def test_first_text_waits_for_a_meaningful_amount() -> None:
    target = FakeTarget()
    reply = StreamingReply(target, pacing=Pacing(first_chars=50, first_wait=0.2))
    reply.start()
    reply.feed("Hi")
    await asyncio.sleep(0.05)
    assert target.calls == []
    await asyncio.sleep(0.25)
    assert target.messages == ["Hi ▌"]
    await reply.finish("")
    assert target.messages == ["Hi"]


async def test_budget_widens_intervals_for_many_streams() -> None:
    budget = WriteBudget(per_second=200)
    targets = [FakeTarget() for _ in range(20)]
    replies = [StreamingReply(t, pacing=FAST, budget=budget) for t in targets]
    for reply in replies:
        reply.start()
    assert budget.share_interval() == 20 / 200
    await asyncio.gather(*(feed_slowly(r, "text " * 40, 5, 0.005) for r in replies))
    await asyncio.gather(*(r.finish("") for r in replies))
    assert budget.active == 0
    calls = sorted(t for target in targets for t, _, _ in target.calls)
    window = calls[-1] - calls[0]
    assert len(calls) <= 200 * window + 5
