"""The forms and persistent buttons of /song and /lyrics, and starting a song job.

Not an extension: ``cogs.song`` registers the buttons and uses the forms. The buttons'
custom_ids carry the job id and the clip's index, so any member may press them after a restart;
whoever presses pays from the guild's credit and is the one in the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import discord

from bot.app import Admitted, AtelierBot, require_guild, role_ids
from bot.errors import AtelierError, JobNotFound
from bot.job_types import Job, NewJob
from bot.providers.suno import LYRICS, MUSIC
from cogs.buttons import ButtonAction
from cogs.media import start_media_job
from cogs.views import start_job

# Suno's own limits (v3.5): a description, custom lyrics, a style and a title.
MAX_DESCRIPTION = 400
MAX_LYRICS = 3000
MAX_STYLE = 200
MAX_TITLE = 80
MAX_CLIPS = 4  # a row of buttons each (5 rows), an mp3 and a cover each (10 files)
ICONS = {MUSIC: "🎵", LYRICS: "📝"}
_TIME = re.compile(r"(?:(\d{1,3}):)?(\d{1,5}(?:\.\d+)?)")


class EmptyPrompt(AtelierError):
    key = "song.empty_prompt"


class EmptyLyrics(AtelierError):
    key = "song.empty_lyrics"


class BadTime(AtelierError):
    key = "song.bad_time"


def parse_time(text: str) -> float | None:
    """Seconds from ``"90"``, ``"90.5"`` or ``"1:30"``; None when it is neither."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    minutes, seconds = match.groups()
    if minutes is not None and float(seconds) >= 60:
        return None
    return int(minutes or 0) * 60 + float(seconds)


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def card(kind: str, title: str, user_id: int, status: str) -> str:
    return f"{ICONS.get(kind, '🎵')} **{title[:300]}** — <@{user_id}>\n{status}"


def playable(clip: dict[str, Any]) -> bool:
    return bool(clip.get("audio_url")) and clip.get("status") != "error"


def chat_song_prompt(request: dict[str, Any]) -> str:
    """What a chat-format song model is asked: the description (or the lyrics, in custom mode)
    with the title, style and "instrumental" as plain lines, as such models read free text."""
    lines = []
    if title := str(request.get("title") or "").strip():
        lines.append(f"Title: {title}")
    if tags := str(request.get("tags") or "").strip():
        lines.append(f"Style: {tags}")
    if request.get("instrumental"):
        lines.append("Instrumental, no vocals.")
    if request.get("mode") != "custom":
        lines.insert(0, str(request.get("prompt") or "").strip())
    elif lyrics := str(request.get("lyrics") or "").strip():
        lines.append(f"Lyrics:\n{lyrics}")
    return "\n".join(line for line in lines if line)


# --- starting jobs ---------------------------------------------------------------------------


async def start_song(
    interaction: discord.Interaction[AtelierBot],
    kind: str,
    request: dict[str, Any],
    *,
    prompt: str,
    title: str,
    parent: Job | None = None,
) -> None:
    """Hold the price, post the card and submit; the member who asked is the one charged.

    A song for one of ``suno.chat_models`` goes to that chat-format model instead, which
    answers with links to the audio (no clips to extend: those are Suno's own)."""
    bot = interaction.client
    config = bot.services.config
    if kind == MUSIC and request.get("mv") in config.suno.chat_models:
        await start_media_job(
            interaction, media="audio", provider="chat_media", model=str(request["mv"]),
            prompt=chat_song_prompt(request), price=config.pricing.action_price(kind),
            deadline_minutes=config.jobs.audio_deadline, cooldown="song", title=title,
        )  # fmt: skip
        return
    new = NewJob(
        key=f"{interaction.id}", kind=kind, provider="suno",
        guild_id=require_guild(interaction), channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id,
        request={**request, "title_shown": title, "upload_limit": interaction.filesize_limit},
        price=config.pricing.action_price(kind), deadline_minutes=config.jobs.audio_deadline,
        locale=str(interaction.locale), parent_id=parent.id if parent else None, command=kind,
        cooldown="song", role_ids=role_ids(interaction.user), prompt=prompt,
    )  # fmt: skip
    waiting = bot.services.catalog.t(interaction.locale, "jobs.waiting")
    await start_job(interaction, new, card(kind, title, interaction.user.id, waiting))


async def parent_job(interaction: discord.Interaction[AtelierBot], job_id: int, kind: str) -> Job:
    """The finished job a button belongs to, refusing other guilds' and unfinished jobs."""
    job = await interaction.client.services.jobs.get(job_id)
    if (
        job is None
        or job.guild_id != interaction.guild_id
        or job.status != "succeeded"
        or job.kind != kind
    ):
        raise JobNotFound(f"song button for job {job_id} pressed in guild {interaction.guild_id}")
    return job


def clip_of(job: Job, index: int) -> dict[str, Any]:
    clips = (job.result or {}).get("clips") or []
    if index >= len(clips) or not playable(clips[index]):
        raise JobNotFound(f"job {job.id} has no clip {index}")
    return dict(clips[index])


# --- modals ----------------------------------------------------------------------------------


def _field(label: str, **kw: Any) -> discord.ui.TextInput[Any]:
    default = kw.pop("default", None) or None
    return discord.ui.TextInput(label=label[:45], default=default, **kw)


class CustomSongModal(Admitted, discord.ui.Modal):
    """Title, style and full lyrics (custom mode); pre-filled from /song options or a lyrics job."""

    def __init__(
        self,
        bot: AtelierBot,
        locale: Any,
        *,
        mv: str,
        instrumental: bool = False,
        title: str = "",
        tags: str = "",
        lyrics: str = "",
        parent: Job | None = None,
    ) -> None:
        t = bot.services.catalog.t
        super().__init__(title=t(locale, "song.custom_title")[:45], timeout=900)
        self.mv, self.instrumental, self.parent = mv, instrumental, parent
        self.song_title = _field(
            t(locale, "song.field_title"), default=title[:MAX_TITLE], required=False,
            max_length=MAX_TITLE, custom_id="title",
        )  # fmt: skip
        self.style = _field(
            t(locale, "song.field_style"), default=tags[:MAX_STYLE], required=False,
            max_length=MAX_STYLE, custom_id="style",
        )  # fmt: skip
        self.lyrics = _field(
            t(locale, "song.field_lyrics"), default=lyrics[:MAX_LYRICS],
            style=discord.TextStyle.paragraph, required=not instrumental,
            max_length=MAX_LYRICS, custom_id="lyrics",
        )  # fmt: skip
        for item in (self.song_title, self.style, self.lyrics):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[AtelierBot]) -> None:
        lyrics = self.lyrics.value.strip()
        if not lyrics and not self.instrumental:
            raise EmptyLyrics("custom song without lyrics")
        title = self.song_title.value.strip()
        request = {
            "mode": "custom", "lyrics": lyrics, "title": title, "tags": self.style.value.strip(),
            "instrumental": self.instrumental, "mv": self.mv,
        }  # fmt: skip
        shown = title or next((line for line in lyrics.splitlines() if line.strip()), "♪")
        await start_song(
            interaction, MUSIC, request, prompt=lyrics, title=shown, parent=self.parent
        )

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        await interaction.client.report_error(interaction, error)


class ExtendModal(Admitted, discord.ui.Modal):
    """Continue a clip from a point in it with new lyrics (continue_clip_id, continue_at)."""

    def __init__(self, bot: AtelierBot, locale: Any, parent: Job, clip: dict[str, Any]) -> None:
        t = bot.services.catalog.t
        super().__init__(title=t(locale, "song.extend_title")[:45], timeout=900)
        self.parent, self.clip = parent, clip
        duration = clip.get("duration")
        self.lyrics = _field(
            t(locale, "song.field_extend_lyrics"), style=discord.TextStyle.paragraph,
            required=False, max_length=MAX_LYRICS, custom_id="lyrics",
        )  # fmt: skip
        self.at = _field(
            t(locale, "song.field_continue_at"),
            default=f"{duration:g}" if isinstance(duration, int | float) else "",
            max_length=12, custom_id="continue_at",
        )  # fmt: skip
        self.style = _field(
            t(locale, "song.field_style"), default=str(clip.get("tags") or "")[:MAX_STYLE],
            required=False, max_length=MAX_STYLE, custom_id="style",
        )  # fmt: skip
        self.song_title = _field(
            t(locale, "song.field_title"), default=str(clip.get("title") or "")[:MAX_TITLE],
            required=False, max_length=MAX_TITLE, custom_id="title",
        )  # fmt: skip
        for item in (self.lyrics, self.at, self.style, self.song_title):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[AtelierBot]) -> None:
        duration = self.clip.get("duration")
        at = parse_time(self.at.value)
        if at is None or at <= 0 or (isinstance(duration, int | float) and at > duration):
            raise BadTime(
                f"continue_at {self.at.value!r}",
                value=self.at.value.strip()[:20] or "?",
                max=format_time(duration),
            )
        source = str(self.clip.get("title") or "")
        title = self.song_title.value.strip() or source
        request = {
            "mode": "continuation", "clip_id": self.clip["id"], "task_id": self.parent.upstream_id,
            "continue_at": at, "lyrics": self.lyrics.value.strip(), "title": title,
            "tags": self.style.value.strip(), "mv": self.parent.request.get("mv"),
        }  # fmt: skip
        shown = interaction.client.services.catalog.t(
            interaction.locale, "song.extend_of", title=source or "♪", at=format_time(at)
        )
        await start_song(
            interaction, MUSIC, request, prompt=request["lyrics"], title=shown, parent=self.parent
        )

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        await interaction.client.report_error(interaction, error)


# --- persistent buttons ----------------------------------------------------------------------


async def _pressed_clip(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Extend or show the lyrics of one clip; the job, the clip and the action are in the id."""
    parent = await parent_job(interaction, int(values["job"]), MUSIC)
    clip = clip_of(parent, int(values["clip"]))
    if values["action"] == "extend":
        modal = ExtendModal(interaction.client, interaction.locale, parent, clip)
        await interaction.response.send_modal(modal)
    else:
        await show_lyrics(interaction, clip)


async def _pressed_make_song(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Under a /lyrics result: open the custom-song modal with those lyrics filled in."""
    parent = await parent_job(interaction, int(values["job"]), LYRICS)
    result = parent.result or {}
    modal = CustomSongModal(
        interaction.client, interaction.locale,
        mv=interaction.client.services.config.suno.default_model,
        title=str(result.get("title") or ""), lyrics=str(result.get("text") or ""),
        parent=parent,
    )  # fmt: skip
    await interaction.response.send_modal(modal)


JOB_ID = r"[0-9]{1,18}"
CLIP = ButtonAction("song", _pressed_clip, job=JOB_ID, clip=r"[0-9]{1,3}", action=r"extend|lyrics")
MAKE_SONG = ButtonAction("songmake", _pressed_make_song, job=JOB_ID)
CLIP_EMOJI = {"extend": "⏩", "lyrics": "📜"}


async def show_lyrics(interaction: discord.Interaction[AtelierBot], clip: dict[str, Any]) -> None:
    """A clip's lyrics, to the presser only."""
    catalog = interaction.client.services.catalog
    lyrics = str(clip.get("lyrics") or "").strip()
    if not lyrics:
        text = catalog.t(interaction.locale, "song.no_lyrics")
        await interaction.response.send_message(text, ephemeral=True)
        return
    title = str(clip.get("title") or "") or catalog.t(interaction.locale, "song.untitled")
    embed = discord.Embed(title=title[:256], description=lyrics[:4096])
    await interaction.response.send_message(embed=embed, ephemeral=True)
