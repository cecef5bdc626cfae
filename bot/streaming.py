"""Show a growing answer in Discord: paced edits, one in flight per message, latest text wins.

A ``StreamingReply`` owns one answer. ``feed()`` only appends to a buffer and wakes the writer;
the writer sends the newest text when the message's pacing allows, so a slow Discord or a 429
never builds a queue: text that arrives meanwhile simply rides on the next edit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.splitting import DISCORD_LIMIT, split_text
from bot.write_budget import WriteBudget

log = logging.getLogger(__name__)

# Room kept free in every message for the in-progress marker and a usual closing footer, so
# that finishing rarely moves text. A longer footer (a long GPT name, a cut-off note with the
# upstream's reason) takes the answer's last lines into one more message instead.
FOOTER_RESERVE = 120
# A footer never takes more than this share of a message; the rest of it is cut with an ellipsis.
FOOTER_SHARE = 0.5
# Writes that may fail in a row (after discord.py's own retries) before the reply gives up.
MAX_WRITE_FAILURES = 3


@dataclass(frozen=True, slots=True)
class Pacing:
    """Edit intervals in seconds, per message and per rate-limit bucket its target names.

    Widened after a 429, narrowed after successes.
    """

    interval: float = 1.25  # see ChatConfig.edit_interval
    max_interval: float = 8.0
    widen: float = 2.0
    narrow: float = 0.85
    # The first text shows once this many characters arrived, or after first_wait seconds.
    first_chars: int = 24
    first_wait: float = 0.25
    # A live status ("Thinking… 12 s") is looked at again this often while nothing arrives.
    status_tick: float = 1.0


class MessageTarget(Protocol):
    """Where an answer is shown: message 0 exists (or is the deferred reply); more are added."""

    async def edit(self, index: int, content: str) -> None: ...

    async def add(self, content: str) -> None: ...

    def rate_limited(self, index: int) -> int:
        """How many 429s the route of message ``index`` has received so far."""
        ...


@runtime_checkable
class SharedBuckets(Protocol):
    """Optional for a target: which rate-limit bucket a write of message ``index`` spends.

    Discord limits edits per route and channel (or interaction), not per message: when two
    messages of an answer share a bucket, pacing each message alone would spend it twice as fast.
    """

    def bucket(self, index: int, *, adding: bool) -> Hashable: ...


class StreamingReply:
    """One answer being streamed into ``target``; call ``feed`` then ``finish``."""

    def __init__(
        self,
        target: MessageTarget,
        *,
        pacing: Pacing | None = None,
        budget: WriteBudget | None = None,
        marker: str = " ▌",
        limit: int = DISCORD_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.pacing = pacing or Pacing()
        self.budget = budget
        self.marker = marker
        self.message_limit = limit
        self.limit = limit - FOOTER_RESERVE
        self._clock = clock
        self.text = ""
        self.footer = ""
        # Shown instead of the text while there is none yet (a reasoning model's "Thinking… 12 s").
        self.status = ""
        # A status that follows the time since start() (see live_status), else None.
        self._render: Callable[[float], str] | None = None
        self._started = clock()
        self.shown: list[str] = []
        self.interval = self.pacing.interval
        self.writes = 0
        self.rate_limits = 0
        self.failures = 0  # writes that failed in a row
        # (time, characters of the answer visible) after each write, for staleness figures.
        self.visible_log: list[tuple[float, int]] = []
        self._last_write: list[float] = []
        self._shared = target if isinstance(target, SharedBuckets) else None
        self._bucket_write: dict[Hashable, float] = {}
        self._shown_end: list[int] = []
        self._first_at: float | None = None
        self._wake = asyncio.Event()
        self._finished = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def visible_chars(self) -> int:
        """How much of the answer members can read right now (a prefix of ``text``)."""
        return self._visible_chars() if self.shown else 0

    def start(self) -> None:
        self._started = self._clock()
        if self.budget is not None:
            self.budget.active += 1
        self._task = asyncio.create_task(self._run(), name="streaming-reply")

    def stop(self) -> None:
        """Give up on the answer (its work failed): no more writes; what shows stays."""
        self._finished.set()
        if self._task is not None:
            self._task.cancel()

    def feed(self, delta: str) -> None:
        if not delta:
            return
        if self._first_at is None:
            self._first_at = self._clock()
        self.text += delta
        self._wake.set()

    def set_status(self, status: str) -> None:
        """Show ``status`` until the first text arrives; paced like any other edit."""
        if self.text or status == self.status:
            return
        self.status = status
        self._wake.set()

    def live_status(self, render: Callable[[float], str]) -> None:
        """Show ``render(seconds since start)`` until the first text arrives. It keeps
        ticking while no chunk comes (a model thinking in silence); its edits are paced like
        any other, so they never take the answer's place in the message's rate limit."""
        if self.text:
            return
        self._render = render
        self._wake.set()

    def _status_now(self) -> str:
        if self._render is not None and not self.text:
            return self._render(self._clock() - self._started)
        return self.status

    async def finish(self, footer: str = "") -> None:
        """Show the whole text followed by ``footer`` and no marker; returns once visible.

        The footer ends the last message; when it would not fit there, the answer's last lines
        move into one more message so that nothing is cut. Only the footer itself is ever
        shortened, and only past half a message.
        """
        room = int(self.message_limit * FOOTER_SHARE)
        self.footer = footer if len(footer) <= room else footer[: room - 1] + "…"
        self._finished.set()
        self._wake.set()
        if self._task is None:
            self.start()
        assert self._task is not None
        await self._task

    def _desired(self) -> tuple[list[str], list[int]]:
        """The content each message should show, and where in the text each one ends."""
        tail = self.footer if self.finished else self.marker
        status = self._status_now()
        if not self.text and status and not self.finished:
            return [f"{status}{tail}"], [0]
        joiner = "\n" if self.finished and tail and self.text else ""
        pieces = split_text(
            self.text, self.limit, last_limit=self.message_limit - len(joiner) - len(tail)
        )
        contents = [p.content for p in pieces]
        ends: list[int] = []
        for piece in pieces:
            ends.append((ends[-1] if ends else 0) + len(piece.text))
        contents[-1] = f"{contents[-1]}{joiner}{tail}"
        return contents, ends

    def _first_text_wait(self) -> float:
        """Seconds until the first text is worth showing; 0 when it is."""
        if self.finished or self.shown:
            return 0.0
        if self._first_at is None:
            return 0.0 if self.status or self._render else float("inf")
        if len(self.text) >= self.pacing.first_chars or "\n" in self.text:
            return 0.0
        return max(0.0, self.pacing.first_wait - (self._clock() - self._first_at))

    def _due(self, index: int, now: float) -> float:
        if index >= len(self.shown) or self.finished:
            return now
        interval = self.interval
        if self.budget is not None:
            interval = max(interval, self.budget.share_interval())
        bucket = self._bucket_write.get(self._bucket(index), float("-inf"))
        return max(self._last_write[index], bucket) + interval

    def _bucket(self, index: int, *, adding: bool = False) -> Hashable:
        if self._shared is None:
            return ("message", index)
        return self._shared.bucket(index, adding=adding)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                wait = self._first_text_wait()
                if wait:
                    if wait != float("inf"):
                        await self._pause(wait)
                    continue
                desired, ends = self._desired()
                pending = [
                    i
                    for i, content in enumerate(desired)
                    if i >= len(self.shown) or self.shown[i] != content
                ]
                if not pending:
                    if self.finished:
                        return
                    if self._render is not None and not self.text:
                        await self._pause(self.pacing.status_tick)  # the next second's status
                    continue
                now = self._clock()
                index = min(pending, key=lambda i: (self._due(i, now), i))
                delay = self._due(index, now) - now
                if delay > 0:
                    await self._pause(delay)
                    continue
                await self._write(index, desired[index], ends[index])
                self._wake.set()
        finally:
            if self.budget is not None:
                self.budget.active -= 1

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short only by the end of the stream (new text need not wake us)."""
        if not self.finished:
            try:
                await asyncio.wait_for(self._finished.wait(), timeout=seconds)
            except TimeoutError:
                pass
        self._wake.set()

    async def _write(self, index: int, content: str, end: int) -> None:
        # The write budget is spent by the HTTP session as the request leaves (DiscordTraffic);
        # here it only paces the edits (share_interval).
        adding = index >= len(self.shown)
        before = 0 if adding else self.target.rate_limited(index)
        sent = self._clock()
        try:
            if adding:
                await self.target.add(content)
            else:
                await self.target.edit(index, content)
        except Exception:
            # A storm longer than the client's own retries, or a 5xx: the next attempt carries
            # the newest text, so wait and try again; give up only when it keeps failing.
            self.failures += 1
            if self.failures >= MAX_WRITE_FAILURES:
                raise
            self.interval = min(self.pacing.max_interval, self.interval * self.pacing.widen)
            log.warning("a write of message %d failed; retrying in %.2fs", index, self.interval,
                        exc_info=True)  # fmt: skip
            await asyncio.sleep(self.interval)
            return
        self.failures = 0
        if adding:
            self.shown.append(content)
            self._shown_end.append(end)
            self._last_write.append(sent)
        else:
            self.shown[index] = content
            self._shown_end[index] = end
        self.writes += 1
        hit = self.target.rate_limited(index) - before
        # Pace from when the request left: discord.py may sleep inside the call after it, and
        # that sleep must not push the next edit back. After a 429 the edit landed at the end.
        self._last_write[index] = self._clock() if hit > 0 else sent
        self._bucket_write[self._bucket(index, adding=adding)] = self._last_write[index]
        if hit > 0:
            self.rate_limits += hit
            self.interval = min(self.pacing.max_interval, self.interval * self.pacing.widen**hit)
            log.info("edit rate limited; interval now %.2fs", self.interval)
        else:
            self.interval = max(self.pacing.interval, self.interval * self.pacing.narrow)
        self.visible_log.append((self._clock(), self._visible_chars()))

    def _visible_chars(self) -> int:
        """Length of the prefix of the answer that members can read right now."""
        _, ends = self._desired()
        visible = 0
        for shown_end, end in zip(self._shown_end, ends, strict=False):
            visible = shown_end
            if shown_end < end:
                break
        return visible
