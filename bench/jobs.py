"""Jobs benchmark: 1,000 concurrent Midjourney jobs on the real engine, through both sandboxes.

    python bench/jobs.py [--jobs 1000] [--channels 100] [--tasks 20-40,20-60] [--seconds 240]

Each scenario runs in a fresh ``SandboxWorld`` in this one process: the real bot, the sandbox
Discord with its default buckets (5 requests per 5 s per route and channel, 50 per second in
all), the sandbox upstream and a temporary SQLite file, with the default ``[jobs]`` settings.
The jobs are inserted through the engine, ``JobEngine.create`` then ``submit`` (what ``/imagine``
does once its interaction is acknowledged), which is much faster than 1,000 slash commands; each
job's card is put straight into the sandbox Discord's store, as ``start_job`` would have posted
it, so setting up spends none of Discord's rate limits. Jobs are spread over ``--channels``
channels; each task takes a duration drawn evenly from the scenario's range upstream. Figures
come from the upstream's request log, the sandbox tasks' timings, the sandbox Discord's message
history and the database; see BENCHMARKS.md for what each row means.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.config import JobsConfig
from bot.db import HoldRow, table
from bot.job_types import Job, NewJob, aware
from bot.sandbox.world import SandboxWorld

LIST = "/mj/task/list-by-condition"
EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
FOOTER = "\n-# "  # a delivered card ends with the result's footer
SAMPLE = 1.0  # seconds between memory samples and completion checks
QUEUED = (1.0, 1.0)  # seconds a task spends in NOT_START, then in SUBMITTED
SETUP_TIMEOUT = 10.0
BATCH = 100
DISCORD_GLOBAL = 50  # requests a second, the sandbox's default and Discord's


# ---- CPU by task -------------------------------------------------------------------------


def task_group(name: str) -> str:
    for prefix, group in (
        ("poller-", "poller"),
        ("progress-job-", "progress"),
        ("deliver-job-", "deliveries"),
        ("bench-setup", "bench setup"),
    ):
        if name.startswith(prefix):
            return group
    return "other tasks"


class _Timed(Coroutine[Any, Any, Any]):
    """A task's coroutine that adds the CPU time of each of its steps to ``book``."""

    def __init__(self, coro: Coroutine[Any, Any, Any], book: Counter[str]) -> None:
        self._coro = coro
        self._book = book
        self._group: str | None = None

    def _charge(self, started: float) -> None:
        if self._group is None:
            task = asyncio.current_task()
            self._group = task_group(task.get_name() if task else "")
        self._book[self._group] += time.thread_time() - started

    def send(self, value: Any) -> Any:
        started = time.thread_time()
        try:
            return self._coro.send(value)
        finally:
            self._charge(started)

    def throw(self, *args: Any) -> Any:  # type: ignore[override]
        started = time.thread_time()
        try:
            return self._coro.throw(*args)
        finally:
            self._charge(started)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Any:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)  # cr_code, cr_frame… for reprs and debuggers


def account_cpu_by_task(book: Counter[str]) -> None:
    """From now on the steps of every new task are timed on the event loop's thread."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        return asyncio.Task(_Timed(coro, book), loop=loop, **kw)

    asyncio.get_running_loop().set_task_factory(factory)  # type: ignore[arg-type]


class Tally(logging.Handler):
    """Counts warnings and errors by logger and message, to sum them up under the table."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.levelname} {record.name}: {record.msg}"] += 1


# ---- what happened ------------------------------------------------------------------------


@dataclass
class Round:
    started: float  # time.monotonic()
    ended: float
    requests: int
    ids: list[int]  # task ids asked, per list-by-condition request
    pending: int = 0


@dataclass
class Tracked:
    job: Job
    created: float  # time.monotonic() before JobEngine.create
    submitted: float
    success: float = math.nan  # when the sandbox task turned SUCCESS
    seen: float = math.nan  # arrival of the list-by-condition request that saw it
    settled: float = math.nan  # the hold settled: the engine has recorded the result
    deliver_started: float = math.nan  # the presenter starts (a delivery slot was free)
    deliver_ended: float = math.nan
    shown: float = math.nan  # the card's first edit that carries the result
    progress_edits: int = 0


@dataclass
class Run:
    name: str
    jobs_config: JobsConfig
    tracked: list[Tracked] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    cpu: Counter[str] = field(default_factory=Counter)
    rss_growth: int = 0  # kB, peak of the samples over the RSS before the jobs were created
    traced_peak: int | None = None  # bytes, over what was traced before the jobs were created
    setup_seconds: float = 0.0
    process_cpu: float = 0.0
    loop_cpu: float = 0.0
    discord: Counter[str] = field(default_factory=Counter)
    ledger_ok: bool = False


def proc_status(key: str) -> int:
    """A kB figure from /proc/self/status (VmRSS); 0 where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN when there is nothing to rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def spread(values: Sequence[float]) -> str:
    return f"{pct(values, 50):.2f} / {pct(values, 95):.2f} / {max(values, default=math.nan):.2f}"


def interval(config: JobsConfig, age: float) -> float:
    """The engine's poll interval for a job of this age (``JobEngine._interval``)."""
    return min(config.poll_max, config.poll_initial * (1 + max(0.0, age) / config.poll_ramp))


# ---- one scenario -------------------------------------------------------------------------


def config_for(n: int) -> dict[str, dict[str, Any]]:
    return {
        "chat": {"refresh_models": False},
        "credit": {"starting_balance": 100 * n + 10_000},
        "logging": {"level": "WARNING"},
        # A few members start every job here: the built-in per-member limit would refuse most.
        "limits": {"requests_per_minute": 0, "concurrent": 0},
    }


async def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            logging.warning("gave up waiting for %s after %.0fs", what, seconds)
            return False
        await asyncio.sleep(0.05)
    return True


def record_rounds(world: SandboxWorld, run: Run) -> None:
    """Wrap the engine's poll_round (its loop calls it through the instance) to log each round."""
    engine = world.services.jobs
    original = engine.poll_round
    records = world.upstream.records

    async def recorded(provider: str) -> float:
        rounds, requests = engine.stats(provider)
        first, started = len(records), time.monotonic()
        try:
            return await original(provider)
        finally:
            after_rounds, after_requests = engine.stats(provider)
            if after_rounds > rounds:
                ids = [len(r.json["ids"]) for r in records[first:] if r.path == LIST]
                run.rounds.append(Round(started, time.monotonic(), after_requests - requests, ids))

    engine.poll_round = recorded  # type: ignore[method-assign]


def record_deliveries(world: SandboxWorld, job: Job, by_id: dict[int, Tracked]) -> None:
    """Time the presenter's deliver (download + Discord upload) of each job."""
    presenter = world.services.jobs.presenter_for(job)
    assert presenter is not None
    original = presenter.deliver

    async def timed(job: Job) -> None:
        tracked = by_id.get(job.id)
        if tracked is not None and math.isnan(tracked.deliver_started):
            tracked.deliver_started = time.monotonic()
        await original(job)
        if tracked is not None and math.isnan(tracked.deliver_ended):
            tracked.deliver_ended = time.monotonic()

    presenter.deliver = timed  # type: ignore[method-assign]


async def create_jobs(
    world: SandboxWorld, n: int, n_channels: int, task: tuple[float, float]
) -> list[Tracked]:
    """N jobs, each with its card, created and submitted one after the other."""
    discord, engine = world.discord, world.services.jobs
    config = world.services.config
    channels = [discord.add_channel(world.guild_id, f"jobs-{i}") for i in range(n_channels)]
    members = [world.add_member(f"member-{i}") for i in range(n_channels)]
    assert world.bot is not None
    bot = world.bot
    await wait_for(lambda: all(bot.get_channel(c) for c in channels), SETUP_TIMEOUT, "channels")
    rng = random.Random(1)
    mj = world.upstream.midjourney
    price = config.pricing.action_price("mj_imagine")
    tracked: list[Tracked] = []
    for i in range(n):
        channel, member = channels[i % n_channels], members[i % n_channels]
        prompt = f"bench scene {i}"
        card = await discord.post_user_message(
            channel, discord.bot_user_id, f"🎨 **{prompt}** — <@{member}>\nWaiting for Midjourney…"
        )
        mj.durations = (*QUEUED, rng.uniform(*task) - sum(QUEUED))  # copied into the new task
        new = NewJob(
            key=f"bench-{i}", kind="mj_imagine", provider="mj", guild_id=world.guild_id,
            channel_id=channel, user_id=member, message_id=card, price=price,
            request={"prompt": prompt, "image_urls": [], "niji": False},
            deadline_minutes=config.jobs.image_deadline, command="mj_imagine",
            cooldown="imagine", prompt=prompt,
        )  # fmt: skip
        created = time.monotonic()
        job, _ = await engine.submit(await engine.create(new))
        tracked.append(Tracked(job, created, submitted=time.monotonic()))
    return tracked


def results_shown(world: SandboxWorld, tracked: Sequence[Tracked]) -> int:
    message = world.discord.message
    return sum(FOOTER in message(t.job.message_id or 0).content for t in tracked)


async def run_scenario(
    n: int, n_channels: int, task: tuple[float, float], seconds: float, book: Counter[str]
) -> Run:
    async with SandboxWorld(config=config_for(n)) as world:
        logging.getLogger("discord").setLevel(logging.ERROR)  # 429s are counted, not logged
        engine = world.services.jobs
        run = Run(f"tasks {task[0]:.0f}–{task[1]:.0f} s", world.services.config.jobs)
        record_rounds(world, run)
        rss_before, rss_peak = proc_status("VmRSS"), 0
        tracing = tracemalloc.is_tracing()
        if tracing:
            tracemalloc.reset_peak()
            traced_before = tracemalloc.get_traced_memory()[0]
        cpu0, loop0, book0 = time.process_time(), time.thread_time(), Counter(book)
        started = time.monotonic()
        run.tracked = await asyncio.create_task(
            create_jobs(world, n, n_channels, task), name="bench-setup"
        )
        run.setup_seconds = time.monotonic() - started
        record_deliveries(world, run.tracked[0].job, {t.job.id: t for t in run.tracked})
        print(
            f"  {run.name}: {n} jobs created and submitted in {run.setup_seconds:.1f}s", flush=True
        )
        deadline = started + seconds
        while results_shown(world, run.tracked) < n and time.monotonic() < deadline:
            rss_peak = max(rss_peak, proc_status("VmRSS"))
            if not await engine.count_active("mj"):
                await engine.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
                break
            await asyncio.sleep(SAMPLE)
        await engine.wait_idle()
        run.process_cpu = time.process_time() - cpu0
        run.loop_cpu = time.thread_time() - loop0
        run.cpu = Counter(book)
        run.cpu.subtract(book0)
        run.rss_growth = max(0, rss_peak - rss_before)
        if tracing:
            run.traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
        await measure(world, run)
        run.ledger_ok = not await world.services.ledger.check()
        print(f"  {run.name}: done in {time.monotonic() - started:.0f}s", flush=True)
    return run


async def measure(world: SandboxWorld, run: Run) -> None:
    """Fill in each job's timeline and each round's pending count from the logs."""
    mj = world.upstream.midjourney
    wall_to_mono = time.time() - time.monotonic()
    discord_to_mono = time.monotonic() - world.discord.clock.now()  # its clock: since its start
    asked: dict[str, list[float]] = {}
    for record in world.upstream.records:
        if record.path == LIST:
            for task_id in record.json["ids"]:
                asked.setdefault(task_id, []).append(record.t)
    holds = table(HoldRow)
    async with world.services.db.read() as conn:
        closed = dict((await conn.execute(select(holds.c.key, holds.c.closed_at))).all())
    for t in run.tracked:
        task = mj.tasks[t.job.upstream_id or ""]
        t.success = task.started + sum(task.durations)  # both on time.monotonic()
        # The poll that saw SUCCESS is the job's last. (The sandbox works the status out a
        # moment after the request arrived, so that arrival may be a few ms before success.)
        t.seen = max(asked.get(task.id, [math.nan]))
        settled = closed.get(f"job:{t.job.key}")
        if settled is not None:
            t.settled = aware(settled).timestamp() - wall_to_mono
        card = world.discord.message(t.job.message_id or 0)
        shown = [at for at, content, _ in card.history if FOOTER in content]
        t.shown = shown[0] + discord_to_mono if shown else math.nan
        t.progress_edits = sum(1 for _, content, _ in card.history if "%" in content)
    for r in run.rounds:
        r.pending = sum(t.submitted <= r.started <= t.seen for t in run.tracked)
    first = min(t.submitted for t in run.tracked)
    last = max((t.shown for t in run.tracked if not math.isnan(t.shown)), default=first)
    for record in world.discord.records:
        if first <= record["t"] + discord_to_mono <= last:
            run.discord[f"{record['method']} {record['route']}"] += 1
            if record["status"] == 429:
                run.discord["429 global" if record["is_global"] else "429 bucket"] += 1


# ---- the table ----------------------------------------------------------------------------


def figures(run: Run, n: int) -> list[tuple[str, str, str]]:
    """(figure, value, target) rows for one scenario."""
    jobs = run.jobs_config
    done = [t for t in run.tracked if not math.isnan(t.shown)]
    first = min(t.submitted for t in run.tracked)
    last = max((t.shown for t in done), default=first)
    wall = last - first
    requests = sum(r.requests for r in run.rounds)
    ids = [k for r in run.rounds for k in r.ids]
    # While all jobs are pending: from the last submit to the first task that finished.
    full_from, full_to = max(t.submitted for t in run.tracked), min(t.success for t in done)
    full = [r for r in run.rounds if full_from <= r.started < full_to]
    full_rate = sum(r.requests for r in full) / (full_to - full_from) * 60
    ratios = [r.requests / max(1, math.ceil(r.pending / BATCH)) for r in run.rounds]
    finishing = Counter(int(t.success - first) for t in done)
    round_wall = [r.ended - r.started for r in run.rounds]
    delay = [t.shown - t.success for t in done]
    wait = [t.seen - t.success for t in done]
    bound = [interval(jobs, t.success - t.created) for t in done]
    late = [w - b for w, b in zip(wait, bound, strict=True)]
    # Upload: until the result is visible. discord.py returns later when the edit spent its
    # channel's last request of the window: it sleeps until the window resets (busy, below).
    upload = [t.shown - t.deliver_started for t in done]
    busy = [t.deliver_ended - t.deliver_started for t in done]
    slot = [t.deliver_started - t.settled for t in done]
    excess = [d - b - u for d, b, u in zip(delay, bound, upload, strict=True)]
    met = sum(e <= 0 for e in excess)
    met_slot = sum(d <= b + u + s for d, b, u, s in zip(delay, bound, upload, slot, strict=True))
    cpu = run.cpu
    per_request = cpu["poller"] / max(1, requests) * 1000
    process = f"{run.process_cpu:.1f} ({run.process_cpu / wall:.0%} of a core)"
    threads = f"{run.loop_cpu:.1f} / {run.process_cpu - run.loop_cpu:.1f}"
    rss = f"{run.rss_growth / 1024:.0f} = {run.rss_growth / n:.0f} kB per job"
    edits = sum(t.progress_edits for t in done) / len(done)
    limited = f"{run.discord[EDIT]} / {run.discord['429 bucket']} / {run.discord['429 global']}"
    rows = [
        ("jobs delivered", f"{len(done)} / {n}", "all"),
        ("create + submit, bench setup (s)", f"{run.setup_seconds:.1f}", ""),
        ("first submit → last result shown (s)", f"{wall:.0f}", ""),
        ("peak finishing rate upstream (tasks/s)", f"{max(finishing.values())}", ""),
        ("poll rounds / list requests", f"{len(run.rounds)} / {requests}", ""),
        (f"list requests per minute, all {n} pending", f"{full_rate:.0f}", ""),
        ("list requests per minute, whole run", f"{requests / wall * 60:.0f}", ""),
        ("task ids per request, mean", f"{sum(ids) / max(1, len(ids)):.1f}", "≤ 100"),
        ("max requests in a round ÷ ceil(pending/100)", f"{max(ratios):.2f}", "≤ 1"),
        ("poll round wall time p50 / p95 / max (s)", spread(round_wall), ""),
        ("process CPU, bot + both sandboxes (s)", process, ""),
        ("· event-loop thread / other threads (s)", threads, ""),
        ("· poller task (s)", f"{cpu['poller']:.2f} = {per_request:.0f} ms per request", ""),
        ("· progress / delivery tasks (s)", f"{cpu['progress']:.2f} / {cpu['deliveries']:.2f}", ""),
        ("· other tasks: sandboxes, gateway, discord.py (s)", f"{cpu['other tasks']:.2f}", ""),
        ("RSS growth, peak (MB)", rss, ""),
    ]
    if run.traced_peak is not None:
        traced = f"{run.traced_peak / 2**20:.0f} = {run.traced_peak / 1024 / n:.0f} kB per job"
        rows.append(("tracemalloc peak growth (MB)", traced, ""))
    rows += [
        ("delivery delay p50 / p95 / max (s)", spread(delay), "≤ interval + upload"),
        ("· finished → seen by a poll", spread(wait), "≤ interval"),
        ("· poll interval at that age", spread(bound), ""),
        ("· seen later than the interval, max (s)", f"{max(late):+.2f}", "≤ 0"),
        ("· seen → result recorded", spread([t.settled - t.seen for t in done]), ""),
        ("· recorded → delivery starts (a slot is free)", spread(slot), ""),
        ("· delivery starts → result shown (upload)", spread(upload), ""),
        ("presenter's deliver, start → return (s)", spread(busy), ""),
        ("jobs within interval + upload", f"{met} / {len(done)}", "all"),
        ("… counting the slot wait as upload", f"{met_slot} / {len(done)}", "all"),
        ("largest excess over interval + upload (s)", f"{max(excess):+.2f}", "≤ 0"),
        ("progress edits shown per job, mean", f"{edits:.1f}", ""),
        ("Discord edits / 429 bucket / 429 global", limited, ""),
        ("ledger check", "ok" if run.ledger_ok else "MISMATCH", "ok"),
    ]
    return rows


def print_table(runs: Sequence[Run], n: int) -> None:
    tables = [figures(run, n) for run in runs]
    names = [name for name, _, _ in tables[0]]
    targets = [target for _, _, target in tables[0]]
    width = max(map(len, names))
    print(f"| {'figure':<{width}} | " + " | ".join(run.name for run in runs) + " | target |")
    print(f"|{'-' * (width + 2)}|" + "---|" * len(runs) + "---|")
    for index, name in enumerate(names):
        values = " | ".join(table[index][1] for table in tables)
        print(f"| {name:<{width}} | {values} | {targets[index]} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument(
        "--tasks", default="20-40,20-60", help="upstream task seconds per scenario: min-max,…"
    )
    parser.add_argument("--seconds", type=float, default=240, help="give up on a scenario after")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace allocations (slow)")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    scenarios = [tuple(float(x) for x in s.split("-")) for s in args.tasks.split(",")]
    print(
        f"{args.jobs} jobs over {args.channels} channels; Discord buckets 5 per 5 s, "
        f"{DISCORD_GLOBAL}/s in all; [jobs] defaults",
        flush=True,
    )
    tally = Tally()
    logging.getLogger().addHandler(tally)
    book: Counter[str] = Counter()
    account_cpu_by_task(book)
    if args.tracemalloc:
        tracemalloc.start()
    runs = []
    for low, high in scenarios:
        runs.append(await run_scenario(args.jobs, args.channels, (low, high), args.seconds, book))
    print_table(runs, args.jobs)
    for message, count in tally.seen.most_common():
        print(f"logged {count}x: {message}")


if __name__ == "__main__":
    # Warnings are counted by Tally and summed up under the table; only errors print in full.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    asyncio.run(main(parse_args()))
