"""Configuration: one TOML file plus environment overrides, validated once at start.

Every problem is reported with the dotted key it belongs to, so an operator can fix the file
without reading a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.amounts import MAX_BALANCE, MAX_VIDEO_SECONDS, Credits, Price
from bot.config_problems import describe
from bot.errors import ConfigError
from bot.pricing import PricingConfig
from bot.sqlite_paths import resolve_sqlite_url
from bot.upstream.capabilities import CapabilitiesConfig
from bot.video_pricing import VideoOptions, VideoPriceRule, pricing_problem, rule_for

DEFAULT_CONFIG_PATH = Path("config.toml")

# Secrets and the database URL may come from the environment so that they never sit in a file
# that gets committed or baked into an image.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "ATELIER_DISCORD_TOKEN": ("discord", "token"),
    "ATELIER_API_KEY": ("upstream", "api_key"),
    "ATELIER_DATABASE_URL": ("database", "url"),
    "ATELIER_METRICS_LISTEN": ("metrics", "listen"),
    "ATELIER_REDIS_URL": ("redis", "url"),
}
_ENV_FOR_KEY = {f"{section}.{key}": env for env, (section, key) in ENV_OVERRIDES.items()}
# An empty or blank secret is as good as none: validation reports it as missing.
SECRET_KEYS = (("discord", "token"), ("upstream", "api_key"))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest.strip("/"):
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/") if scheme.lower() in ("http", "https") else value


class DiscordConfig(_Section):
    token: SecretStr
    # Shards: shard_count for the whole bot, shard_ids for this process (empty = all of them).
    shard_count: int = Field(1, ge=1)
    shard_ids: list[int] = Field(default_factory=list)
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    owner_ids: list[int] = Field(default_factory=list)
    sync_guild_ids: list[int] = Field(default_factory=list)
    # Seconds one attempt to reach Discord at start may take, and how long the bot keeps
    # retrying (with growing pauses) before it gives up with exit status 4.
    connect_timeout: float = Field(10.0, gt=0)
    startup_timeout: float = Field(300.0, ge=0)

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: list[int], info: ValidationInfo) -> list[int]:
        count = info.data.get("shard_count")
        if count is None:
            return value  # shard_count itself is wrong; its own error says so
        outside = [shard for shard in value if not 0 <= shard < count]
        if outside:
            raise ValueError(f"each must be at least 0 and below shard_count ({count})")
        if len(set(value)) != len(value):
            raise ValueError("each shard id may be listed once")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @field_validator("gateway_url")
    @classmethod
    def _gateway(cls, value: str) -> str:
        return _check_url(value, ("ws", "wss"))


class UpstreamConfig(_Section):
    base_url: str = "https://api.openai-next.com"
    api_key: SecretStr
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    total_timeout: float = Field(600.0, gt=0)
    # Gateways as they really are (upstream-api.md §7).
    # The unit the billing routes answer in: "auto" reads the site's /api/status (USD when it
    # cannot be read); pin USD, CNY or TOKENS for a site whose status route is closed.
    display_unit: Literal["auto", "USD", "CNY", "TOKENS"] = "auto"
    # With a pinned CNY or TOKENS: how many of that unit make US$1 (the site's exchange rate,
    # or its quota per unit; 0 = 500000 for TOKENS), to compare admin.upstream_alert_usd with.
    display_per_usd: float = Field(0.0, ge=0)
    # How /mj routes are authenticated: "bearer" (new-api and other gateways), "mj-api-secret"
    # (midjourney-proxy reached directly), or "auto" (Bearer, then mj-api-secret if refused).
    mj_auth: Literal["bearer", "mj-api-secret", "auto"] = "auto"
    capabilities: CapabilitiesConfig = Field(default_factory=CapabilitiesConfig)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @model_validator(mode="after")
    def _rate_for_cny(self) -> UpstreamConfig:
        if self.display_unit == "CNY" and not self.display_per_usd:
            raise ValueError("display_per_usd: set the site's yuan per US$1 for display_unit CNY")
        return self


class DatabaseConfig(_Section):
    # A relative SQLite path is resolved against the config file's folder.
    url: str = Field("sqlite+aiosqlite:///atelier.db", validate_default=True)
    # Migrate the schema on start; when false, start refuses a schema that is behind.
    auto_upgrade: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        # A relative SQLite file lives beside the config file, wherever the bot is started.
        base = (info.context or {}).get("base_dir") or Path.cwd()
        return resolve_sqlite_url(value, Path(base))


class CreditConfig(_Section):
    # Credits a server gets the first time it is seen: 0 to 10**15 (bot/amounts.py).
    starting_balance: Credits = 1000


class ChatModel(_Section):
    name: str = Field(min_length=1)
    # Models that only answer whole (no SSE) use the non-streaming route.
    stream: bool = True
    # Whether image attachments may be sent to this model.
    vision: bool = True
    # Models that answer instead when this one fails before its first token (bot/fallbacks.py).
    fallbacks: list[str] = Field(default_factory=list)


def _default_models() -> list[ChatModel]:
    return [ChatModel(name="gpt-4o-mini"), ChatModel(name="gpt-4o")]


class ChatConfig(_Section):
    default_model: str = "gpt-4o-mini"
    models: list[ChatModel] = Field(default_factory=_default_models)
    # Also offer every chat model the gateway lists at GET /v1/models.
    refresh_models: bool = True
    # GPTs are called as <gizmo_prefix><g-id>, e.g. gpt-4-gizmo-g-XXXX.
    gizmo_prefix: str = "gpt-4-gizmo-"
    reply_mode: Literal["thread", "inline"] = "thread"
    system_prompt: str = ""
    history_chars: int = Field(12_000, ge=500)
    max_output_tokens: int = Field(1024, ge=16)
    max_text_file_bytes: int = Field(100_000, ge=1)
    max_image_bytes: int = Field(8_000_000, ge=1)
    # Seconds between edits of one streamed message. Discord's edit buckets allow 5 per 5 s;
    # 1.25 s keeps one request of every window free, so the final text need not wait for a reset.
    edit_interval: float = Field(1.25, gt=0)
    max_edit_interval: float = Field(8.0, gt=0)
    # Every request on the bot token takes a slot (bot/write_budget.py); kept under Discord's 50.
    channel_writes_per_second: float = Field(40.0, gt=0, le=50)
    # Models tried for one answer, the first included; no fallback starts after
    # fallback_seconds from the first attempt.
    fallback_attempts: int = Field(3, ge=1, le=5)
    fallback_seconds: float = Field(30.0, gt=0)

    def model(self, name: str) -> ChatModel:
        for model in self.models:
            if model.name == name:
                return model
        return ChatModel(name=name)


class JobsConfig(_Section):
    # Seconds between polls of one task: starts at poll_initial and grows with the task's age.
    poll_initial: float = Field(2.0, gt=0)
    poll_max: float = Field(15.0, gt=0)
    poll_ramp: float = Field(60.0, gt=0)  # age (s) at which the interval has doubled
    # A whole poll round per provider never runs more often than this.
    poll_floor: float = Field(0.5, gt=0)
    # Minutes a task may take before it is timed out and refunded.
    image_deadline: float = Field(10.0, gt=0)
    audio_deadline: float = Field(15.0, gt=0)
    video_deadline: float = Field(30.0, gt=0)
    # Seconds between progress edits of one job's message.
    progress_interval: float = Field(2.0, ge=0)
    # Largest result re-uploaded as a file; larger ones are posted as links.
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    download_timeout: float = Field(120.0, gt=0)


class AdminConfig(_Section):
    # Tell the operators (discord.owner_ids) by DM once when the upstream account's remaining
    # balance falls below this many US dollars; 0 turns the check off.
    upstream_alert_usd: float = Field(0.0, ge=0)
    upstream_check_minutes: float = Field(30.0, gt=0)


class ImageModel(_Section):
    name: str = Field(min_length=1)
    # midjourney: /mj with buttons; images: POST /v1/images/generations; chat: a chat-format
    # media model whose answer ends with links to the images; unified: a task on the gateway's
    # unified route (POST /v1/video/generations, then polled), as some serve Flux or Recraft.
    adapter: Literal["midjourney", "images", "chat", "unified"]
    # Credits per image; empty = pricing.actions.image. Midjourney is priced per action instead.
    price: Price | None = None

    @model_validator(mode="after")
    def _midjourney_priced_per_action(self) -> ImageModel:
        if self.adapter == "midjourney" and self.price is not None:
            raise ValueError(
                "Midjourney is priced per action in [pricing.actions] (mj_imagine, mj_upscale, "
                "…): leave price out"
            )
        return self


def _default_image_models() -> list[ImageModel]:
    return [
        ImageModel(name="midjourney", adapter="midjourney"),
        ImageModel(name="dall-e-3", adapter="images"),
        ImageModel(name="gpt-image-1", adapter="images"),
        ImageModel(name="flux-schnell", adapter="chat"),
    ]


VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
# Discord's largest attachment on a boosted server; the proxies take no larger reference.
MAX_REFERENCE_BYTES = 25 * 1024 * 1024


class ImageConfig(_Section):
    # /imagine model: choices; the first is the default.
    models: list[ImageModel] = Field(default_factory=_default_image_models, min_length=1)
    # The Midjourney version (--v) and Niji version (--niji) a prompt that names none runs on:
    # /imagine's style and character references become that version's parameters.
    midjourney_version: str = Field("7", pattern=VERSION_PATTERN)
    niji_version: str = Field("6", pattern=VERSION_PATTERN)
    # Largest reference image (bytes) a member may attach to /imagine.
    reference_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=MAX_REFERENCE_BYTES)

    def model(self, name: str | None) -> ImageModel | None:
        if not name:
            return self.models[0]
        return next((m for m in self.models if m.name == name), None)


# Midjourney's videos: 5-second clips from an image, with low or high motion.
MJ_VIDEO_SECONDS = 5
MJ_VIDEO_MOTIONS = ("low", "high")


class VideoModel(_Section):
    name: str = Field(min_length=1)
    # Which gateway API serves the model: kling (/kling/v1/videos), luma (/luma/generations),
    # runway (/runwayml/v1), sora (/v1/videos), unified (/v1/video/generations), mj_video
    # (Midjourney's /mj/submit/video: image to video only) or chat (a chat-format model whose
    # answer ends with links to the video: configuration alone).
    adapter: Literal["kling", "luma", "runway", "sora", "unified", "mj_video", "chat"]
    # What the model accepts; the first duration and aspect are the defaults.
    durations: list[int] = Field(default_factory=lambda: [5], min_length=1)
    aspects: list[str] = Field(default_factory=lambda: ["16:9"], min_length=1)
    image: Literal["none", "optional", "required"] = "optional"
    # Credits per video; empty = pricing.actions.video. price_per_second adds that many
    # credits per second of video on top (then an empty price counts as 0).
    price: Price | None = None
    price_per_second: Price | None = None
    # Kling's modes (e.g. ["std", "pro"], the first the default) and its audio on/off switch;
    # prices: rules by the chosen options (bot/video_pricing.py), replacing price above.
    modes: list[str] = Field(default_factory=list)
    audio: bool = False
    prices: list[VideoPriceRule] = Field(default_factory=list)

    @field_validator("durations")
    @classmethod
    def _durations(cls, value: list[int]) -> list[int]:
        if any(not 0 < seconds <= MAX_VIDEO_SECONDS for seconds in value):
            raise ValueError(
                f"durations are seconds and must be > 0 and at most {MAX_VIDEO_SECONDS:,}"
            )
        return value

    @model_validator(mode="after")
    def _runway_needs_an_image(self) -> VideoModel:
        if self.adapter == "runway" and self.image != "required":
            raise ValueError('runway makes videos from an image only: set image = "required"')
        return self

    @model_validator(mode="after")
    def _midjourney_video(self) -> VideoModel:
        if self.adapter != "mj_video":
            return self
        if self.image != "required":
            raise ValueError('mj_video animates an image only: set image = "required"')
        if self.durations != [MJ_VIDEO_SECONDS]:
            raise ValueError(f"mj_video makes {MJ_VIDEO_SECONDS} s clips: durations = [5]")
        if unknown := [m for m in self.modes if m not in MJ_VIDEO_MOTIONS]:
            raise ValueError(f"modes {unknown}: mj_video's modes are its motion, low or high")
        return self

    @model_validator(mode="after")
    def _options_priced(self) -> VideoModel:
        if self.audio and self.adapter != "kling":
            raise ValueError('audio is a Kling option: only adapter = "kling" has it')
        if self.modes and self.adapter not in ("kling", "mj_video"):
            raise ValueError("modes are Kling's std/pro or mj_video's motion: not this adapter")
        if len(set(self.modes)) != len(self.modes):
            raise ValueError("modes: each mode may appear once")
        if problem := pricing_problem(self.prices, self.modes, self.aspects, self.audio):
            raise ValueError(problem)
        return self

    @property
    def price_key(self) -> str:
        """The ``pricing.actions`` key of this model's price when it sets none."""
        return "mj_video" if self.adapter == "mj_video" else "video"

    def option_cost(self, options: VideoOptions, action_price: int) -> int:
        """Credits for one video with these options: the first matching price rule."""
        rule = rule_for(self.prices, options)
        return rule.cost(options.duration) if rule else self.cost(options.duration, action_price)

    def cost(self, duration: int, action_price: int) -> int:
        """Credits for one video of ``duration`` seconds (``action_price``: the default)."""
        if self.price_per_second is not None:
            # At most MAX_PRICE * (1 + MAX_VIDEO_SECONDS): far inside a balance.
            return min((self.price or 0) + self.price_per_second * duration, MAX_BALANCE)
        return self.price if self.price is not None else action_price


def _default_video_models() -> list[VideoModel]:
    return [
        VideoModel(name="kling-v1", adapter="kling", durations=[5, 10],
                   aspects=["16:9", "9:16", "1:1"]),
        VideoModel(name="luma", adapter="luma", durations=[5],
                   aspects=["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]),
        VideoModel(name="gen3a_turbo", adapter="runway", durations=[5, 10],
                   aspects=["16:9", "9:16"], image="required"),
        VideoModel(name="sora-2", adapter="sora", durations=[4, 8, 12], aspects=["16:9", "9:16"]),
        VideoModel(name="veo-3.0-generate-001", adapter="unified", durations=[8],
                   aspects=["16:9", "9:16"]),
    ]  # fmt: skip


class VideoConfig(_Section):
    # /video model: when none is chosen; must be one of the models.
    default_model: str = "kling-v1"
    models: list[VideoModel] = Field(default_factory=_default_video_models, min_length=1)

    @model_validator(mode="after")
    def _known_default(self) -> VideoConfig:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("models: each name may appear once")
        if self.default_model not in names:
            raise ValueError(f"default_model {self.default_model!r} is not one of the models")
        return self

    def model(self, name: str | None) -> VideoModel | None:
        wanted = name or self.default_model
        return next((m for m in self.models if m.name == wanted), None)


class SunoConfig(_Section):
    # /song model: Suno's "mv" values the gateway offers; default_model is used when none is
    # chosen and must be one of them.
    default_model: str = "chirp-v3-5"
    models: list[str] = Field(
        default_factory=lambda: ["chirp-v3-5", "chirp-v4", "chirp-v3-0"], min_length=1
    )
    # Song models the gateway serves in chat format (/v1/chat/completions, answering with links
    # to the audio): /song model: offers them too, from configuration alone.
    chat_models: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_default(self) -> SunoConfig:
        names = [*self.models, *self.chat_models]
        if any(not m.strip() for m in names) or len(set(names)) != len(names):
            raise ValueError("models, chat_models: each must be a non-empty name, listed once")
        if self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not one of the models")
        return self

    def model(self, name: str | None) -> str | None:
        """The chosen model, the default when none is named, or None when it is unknown."""
        wanted = name or self.default_model
        return wanted if wanted in self.models or wanted in self.chat_models else None


# OpenAI's text-to-speech voices, the ones new-api and one-api relay.
DEFAULT_VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")


class AudioConfig(_Section):
    # voice in
    # The model that transcribes voice messages and audio files given to /gpt file:.
    transcribe_model: str = Field("whisper-1", min_length=1)
    # Credits per minute of audio, charged for the exact seconds (rounded up to a credit).
    transcribe_price_per_minute: Price = 6
    # Longer recordings are refused before anything is held or downloaded.
    max_transcribe_seconds: int = Field(600, ge=1, le=MAX_VIDEO_SECONDS)
    # Largest audio file /gpt file: accepts (the transcription route takes up to 25 MB).
    max_transcribe_bytes: int = Field(25_000_000, ge=1024, le=25 * 1024 * 1024)
    # Language hint (ISO 639-1, e.g. "zh") sent with every transcription; "" lets the model tell.
    transcribe_language: str = Field("", pattern=r"^([a-z]{2})?$")

    # voice out: Read aloud under answers and /speak (POST /v1/audio/speech).
    speech_model: str = Field("tts-1", min_length=1)
    # The voices /speak offers; default_voice reads aloud and is /speak's default.
    voices: list[str] = Field(default_factory=lambda: list(DEFAULT_VOICES), min_length=1)
    default_voice: str = "alloy"
    # Credits per 1,000 characters read, rounded up to whole credits per call.
    speech_price_per_1k_chars: Price = 2
    # The most characters one call reads: /speak refuses longer text, Read aloud reads the
    # first max_speech_chars of a longer answer (OpenAI's speech route takes 4,096).
    max_speech_chars: int = Field(4096, ge=1, le=4096)

    @model_validator(mode="after")
    def _known_voice(self) -> AudioConfig:
        if any(not v.strip() for v in self.voices) or len(set(self.voices)) != len(self.voices):
            raise ValueError("voices: each must be a non-empty name, listed once")
        if self.default_voice not in self.voices:
            raise ValueError(f"default_voice {self.default_voice!r} is not one of the voices")
        return self

    def models(self) -> frozenset[str]:
        """The audio models, which the gateway lists beside its chat models."""
        return frozenset({self.transcribe_model, self.speech_model})

    def price(self, chars: int) -> int:
        """What reading ``chars`` characters costs: whole credits, rounded up."""
        return -(-max(0, chars) * self.speech_price_per_1k_chars // 1000)


class LimitsConfig(_Section):
    # Built in, per member, on top of any cooldowns and daily caps admins set; 0 = no limit.
    # Requests that reach the upstream (paid commands, buttons, thread replies, GPT lookups)
    # per sliding minute.
    requests_per_minute: int = Field(12, ge=0)
    # Paid answers and jobs one member may have running at once.
    concurrent: int = Field(3, ge=0)


class RedisConfig(_Section):
    # A Redis every process of this bot reaches, e.g. "redis://127.0.0.1:6379/0": the Discord
    # write budget and the per-member request limits are then one budget and one limit across
    # processes. Empty: each process counts alone (enough for one process).
    url: str = ""
    # Seconds one Redis call may take before the process falls back to its own share.
    timeout: float = Field(0.5, gt=0, le=10)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value, ("redis", "rediss", "unix")) if value else value


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "plain" for people, "json" (one object per line) for log collectors.
    format: Literal["plain", "json"] = "plain"


class MetricsConfig(_Section):
    # host:port for a Prometheus /metrics endpoint, e.g. "127.0.0.1:9108"; empty = off.
    listen: str = ""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError("must be host:port, e.g. 127.0.0.1:9108")
        return value


class RuntimeConfig(_Section):
    # On SIGTERM/SIGINT: seconds running answers get to finish before the bot closes.
    shutdown_grace: float = Field(20.0, ge=0)
    # An answer's hold still open this long past upstream.total_timeout + shutdown_grace has
    # lost its process (killed, or cut off by the grace) and is refunded.
    orphan_margin: float = Field(60.0, ge=0)


class Config(_Section):
    discord: DiscordConfig
    upstream: UpstreamConfig
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    credit: CreditConfig = Field(default_factory=CreditConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    suno: SunoConfig = Field(default_factory=SunoConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


def _drop(node: Any, parts: list[str]) -> None:
    if not isinstance(node, dict) or parts[0] not in node:
        return
    if len(parts) == 1:
        del node[parts[0]]
    else:
        _drop(node[parts[0]], parts[1:])


def parse_config(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    base_dir: Path | None = None,
    drop: Collection[str] = (),
) -> Config:
    """Validate a mapping (as read from TOML) with environment overrides applied.

    ``overrides`` replace whole keys after the environment; the demo uses them to aim the bot at
    its sandboxes while keeping the operator's pricing and credit settings. A relative SQLite
    path is resolved against ``base_dir`` (the config file's folder; default: the cwd).
    ``drop`` leaves dotted keys out (so they take their defaults): ``atelier doctor`` drops the
    faulty ones to check every part the file gets right.
    """
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    # Empty required sections let the errors name the missing keys rather than the section.
    merged.setdefault("discord", {})
    merged.setdefault("upstream", {})
    merged.setdefault("database", {})  # validated here, so its default path is resolved too
    for name, (section, key) in ENV_OVERRIDES.items():
        value = (env if env is not None else os.environ).get(name)
        if value and value.strip():  # a blank variable does not hide the file's value
            target = merged.setdefault(section, {})
            if isinstance(target, dict):
                target[key] = value
    for dotted in drop:
        _drop(merged, dotted.split("."))
    for section, values in (overrides or {}).items():
        target = merged.setdefault(section, {})
        if isinstance(target, dict):
            target.update(values)
    for section, key in SECRET_KEYS:
        target = merged.get(section)
        if isinstance(target, dict) and isinstance(target.get(key), str):
            if not target[key].strip():
                del target[key]
    try:
        return Config.model_validate(merged, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError([describe(e, Config, _ENV_FOR_KEY) for e in exc.errors()]) from None


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    offline: bool = False,
    drop: Collection[str] = (),
) -> Config:
    """Read and validate the config file; a missing default file means environment only.

    ``offline`` is for operator commands that touch only the database: they need no secrets.
    """
    explicit = path is not None
    path = path or DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([(str(path), f"invalid TOML: {exc}")]) from None
        except OSError as exc:
            raise ConfigError([(str(path), f"cannot be read: {exc.strerror}")]) from None
    elif explicit:
        raise ConfigError([(str(path), "file not found")])
    if offline:
        placeholders = {"discord": {"token": "offline"}, "upstream": {"api_key": "offline"}}
        for section, values in placeholders.items():
            target = data.setdefault(section, {})
            if isinstance(target, dict):
                for key, value in values.items():
                    if not str(target.get(key) or "").strip():
                        target[key] = value
    base_dir = path.resolve().parent if path.exists() else None
    return parse_config(data, env, overrides, base_dir=base_dir, drop=drop)
