"""Prometheus metrics: commands, upstream calls, Discord 429s, jobs by state, credits spent.

One registry per process, owned by the services (no module-level collectors), served over HTTP
at ``[metrics] listen`` when set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.db import Database, HoldRow, JobRow, table
from bot.discord_traffic import DiscordTraffic

# Ids in paths (task ids, snowflakes, uuids) become {id} so each route is one label value.
_ID_SEGMENT = re.compile(r"/(?:task_[\w-]+|[0-9a-f]{8}-[0-9a-f-]{27,}|\d{3,}|g-[\w]+)(?=/|$)")
# Interaction and webhook tokens too: one per interaction, they would make a series each.
_TOKEN_SEGMENT = re.compile(r"(/(?:interactions|webhooks)/\{id\})/[^/]+")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
JOBS = table(JobRow)
HOLDS = table(HoldRow)


def route_of(path: str) -> str:
    return _TOKEN_SEGMENT.sub(r"\1/{token}", _ID_SEGMENT.sub("/{id}", path))


class _Discord429s(Collector):
    def __init__(self, traffic: DiscordTraffic) -> None:
        self.traffic = traffic

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "atelier_discord_rate_limited", "429 answers received from Discord", labels=["route"]
        )
        routes: dict[str, int] = {}
        for path, count in self.traffic.rate_limited.items():
            routes[route_of(path)] = routes.get(route_of(path), 0) + count
        for route, count in routes.items():
            family.add_metric([route], count)
        yield family


class Metrics:
    def __init__(self, traffic: DiscordTraffic) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "atelier_commands",
            "Slash commands handled",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "atelier_command_seconds",
            "Time from the interaction to its handler's end",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream = Counter(
            "atelier_upstream_requests",
            "Calls to the upstream by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "atelier_upstream_seconds",
            "Upstream latency to the response headers",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Gauge("atelier_jobs", "Jobs by state", ["state"], registry=self.registry)
        self.credits_spent = Gauge(
            "atelier_credits_spent",
            "Credits charged for settled holds, all guilds",
            registry=self.registry,
        )
        self.registry.register(_Discord429s(traffic))
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def command_done(self, command: str, outcome: str, started: float) -> None:
        self.commands.labels(command, outcome).inc()
        self.command_seconds.labels(command).observe(max(0.0, time.time() - started))

    def upstream_trace(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: object) -> None:
            ctx.started = time.monotonic()

        async def end(
            _s: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            route = route_of(params.url.path)
            self.upstream.labels(route, str(params.response.status)).inc()
            self.upstream_seconds.labels(route).observe(time.monotonic() - ctx.started)

        async def failed(
            _s: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            self.upstream.labels(route_of(params.url.path), "error").inc()

        trace.on_request_start.append(start)
        trace.on_request_end.append(end)
        trace.on_request_exception.append(failed)
        return trace

    async def refresh(self, db: Database) -> None:
        """Jobs by state and credits spent come from the database, read at scrape time."""
        async with db.read() as conn:
            states = dict(
                (
                    await conn.execute(select(JOBS.c.status, func.count()).group_by(JOBS.c.status))
                ).all()
            )  # type: ignore[arg-type]
            spent = await conn.scalar(
                select(func.coalesce(func.sum(HOLDS.c.actual), 0)).where(
                    HOLDS.c.status == "settled"
                )
            )
        for state in (
            "submitting",
            "pending",
            "running",
            "awaiting",
            "succeeded",
            "failed",
            "timed_out",
        ):
            self.jobs.labels(state).set(states.get(state, 0))
        self.credits_spent.set(int(spent or 0))

    async def serve(self, listen: str, db: Database, ready: Callable[[], bool]) -> None:
        """``/metrics`` for Prometheus and ``/healthz`` (200 once connected) for health checks."""
        host, _, port = listen.rpartition(":")

        async def scrape(_request: web.Request) -> web.Response:
            await self.refresh(db)
            return web.Response(body=generate_latest(self.registry), content_type="text/plain")

        async def health(_request: web.Request) -> web.Response:
            return web.Response(
                status=200 if ready() else 503, text="ok" if ready() else "starting"
            )

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        app.router.add_get("/healthz", health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, int(port))
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
