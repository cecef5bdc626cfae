"""The long-lived resources, built once at start and handed to the bot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from bot.answers import AnswerService
from bot.background import Background
from bot.capabilities import Capabilities
from bot.config import Config
from bot.conversations import Conversations
from bot.db import Database
from bot.discord_traffic import DiscordTraffic
from bot.gpt_catalog import GPTCatalog
from bot.i18n import Catalog
from bot.jobs import JobEngine
from bot.ledger import Ledger
from bot.member_limits import MemberLimiter
from bot.metrics import Metrics
from bot.migrations import prepare
from bot.policies import Policies
from bot.providers.midjourney import MidjourneyProvider
from bot.providers.one_call import ChatMediaProvider, ImagesRouteProvider
from bot.providers.suno import SunoProvider
from bot.providers.video import video_providers
from bot.reasoning import ReasoningStore
from bot.shared_limits import SharedStore
from bot.speech import AnswerTexts, SpeechService
from bot.spending import Spending
from bot.streaming import Pacing
from bot.upstream import BillingClient, ChatClient, UpstreamClient
from bot.upstream.factory import billing_client, upstream_client
from bot.upstream.gpts import GPTsClient
from bot.upstream.images import ImagesClient
from bot.upstream.midjourney import MidjourneyClient
from bot.upstream.moderation import ModerationClient
from bot.upstream.speech import SpeechClient
from bot.upstream.suno import SunoClient
from bot.upstream.transcriptions import TranscriptionClient
from bot.voice_in import VoiceIn
from bot.write_budget import WriteBudget


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    db: Database
    ledger: Ledger
    catalog: Catalog
    http: aiohttp.ClientSession
    upstream: UpstreamClient
    chat: ChatClient
    billing: BillingClient
    gpts: GPTsClient
    answers: AnswerService
    conversations: Conversations
    gpt_catalog: GPTCatalog
    traffic: DiscordTraffic
    metrics: Metrics
    write_budget: WriteBudget
    pacing: Pacing
    jobs: JobEngine
    spending: Spending
    policies: Policies
    limiter: MemberLimiter
    capabilities: Capabilities
    # The Midjourney client the jobs use, for calls that are not jobs (an image's seed).
    midjourney: MidjourneyClient
    # Alert and log posts no handler waits for; the bot closes it.
    background: Background
    reasoning: ReasoningStore
    speech: SpeechService
    voice_in: VoiceIn


@contextlib.asynccontextmanager
async def open_services(config: Config) -> AsyncIterator[Services]:
    """Upgrade (or check) the database schema, open the HTTP session and the clients."""
    db = Database(config.database.url)
    try:
        await db.check_connection()
        await prepare(db, auto_upgrade=config.database.auto_upgrade)
    except BaseException:
        await db.close()
        raise
    store = shared_store(config)
    # One budget for every request the token makes, spent where discord.py's session sends.
    write_budget = WriteBudget(
        config.chat.channel_writes_per_second, store=store, share=shard_share(config)
    )
    traffic = DiscordTraffic(write_budget)
    metrics = Metrics(traffic)
    http = aiohttp.ClientSession(trace_configs=[metrics.upstream_trace()])
    try:
        up = config.upstream
        upstream = upstream_client(http, config.upstream)
        ledger = Ledger(db, starting_balance=config.credit.starting_balance)
        chat = ChatClient(upstream)
        limiter = MemberLimiter(config.limits, store=store)
        background = Background()
        spending = Spending(
            db, ledger, ModerationClient(upstream), limiter=limiter, background=background
        )
        jobs = JobEngine(
            db, spending, config.jobs,
            shard_count=config.discord.shard_count, shard_ids=config.discord.shard_ids,
            # A paid answer's upstream call ends within the total timeout, and a draining
            # process gets the shutdown grace: no live answer holds credit longer than that.
            answer_timeout=up.total_timeout + config.runtime.shutdown_grace,
            orphan_margin=config.runtime.orphan_margin,
        )  # fmt: skip
        midjourney = MidjourneyClient(upstream)
        jobs.add_provider(
            MidjourneyProvider(
                midjourney, upstream, max_reference_bytes=config.image.reference_max_bytes
            )
        )
        jobs.add_provider(SunoProvider(SunoClient(upstream)))
        jobs.add_provider(ChatMediaProvider(chat))
        jobs.add_provider(ImagesRouteProvider(ImagesClient(upstream)))
        for provider in video_providers(upstream):
            jobs.add_provider(provider)
        capabilities = Capabilities(upstream, up.capabilities)
        yield Services(
            config=config,
            db=db,
            ledger=ledger,
            catalog=Catalog.load(),
            http=http,
            upstream=upstream,
            chat=chat,
            billing=billing_client(upstream, config.upstream),
            gpts=GPTsClient(upstream),
            answers=AnswerService(chat, spending, config.pricing, config.chat),
            conversations=Conversations(db),
            gpt_catalog=GPTCatalog(db),
            traffic=traffic,
            metrics=metrics,
            write_budget=write_budget,
            pacing=Pacing(
                interval=config.chat.edit_interval, max_interval=config.chat.max_edit_interval
            ),
            jobs=jobs,
            spending=spending,
            policies=Policies(db),
            limiter=limiter,
            capabilities=capabilities,
            midjourney=midjourney,
            background=background,
            reasoning=ReasoningStore(db),
            speech=SpeechService(
                SpeechClient(upstream), spending, capabilities, config.audio, AnswerTexts(db)
            ),
            voice_in=VoiceIn(TranscriptionClient(upstream), spending, capabilities, config.audio),
        )
    finally:
        await http.close()
        if store is not None:
            await store.close()
        await db.close()


def shared_store(config: Config) -> SharedStore | None:
    """The Redis shared by the bot's processes, when one is configured. Scoped by the token:
    Discord's global limit belongs to it."""
    if not config.redis.url:
        return None
    return SharedStore(
        config.redis.url,
        scope=config.discord.token.get_secret_value(),
        timeout=config.redis.timeout,
    )


def shard_share(config: Config) -> float:
    """The fraction of the bot's shards this process serves: its share of a shared budget."""
    ids = config.discord.shard_ids
    return len(ids) / config.discord.shard_count if ids else 1.0
