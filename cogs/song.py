"""/song and /lyrics (Suno): commands, and the presenter that shows their jobs.

A MUSIC job's card links the clips as soon as they stream, then shows both clips (title,
duration, style, cover and the mp3 attached) with an Extend and a Lyrics button per clip
(``cogs.song_views``). A LYRICS job shows the lyrics with a "Make this song" button.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot
from bot.errors import UnknownModel, UpstreamError
from bot.i18n import cmd
from bot.job_types import Job, TaskState
from bot.providers.suno import LYRICS, MUSIC
from cogs.autocomplete import fitting_choices
from cogs.cards import link_card, show_card
from cogs.media import MediaPresenter
from cogs.song_views import (
    CLIP,
    CLIP_EMOJI,
    MAKE_SONG,
    MAX_CLIPS,
    MAX_DESCRIPTION,
    MAX_STYLE,
    MAX_TITLE,
    CustomSongModal,
    EmptyPrompt,
    card,
    format_time,
    playable,
    start_song,
)
from cogs.views import error_text, fetch_file, progress_bar, show

log = logging.getLogger(__name__)

_SLUG = re.compile(r"[^A-Za-z0-9]+")
PRIMARY = discord.ButtonStyle.primary
MAX_MESSAGE = 2000  # Discord's limit on a message's content


def _plain(text: str) -> str:
    """Text safe inside a markdown link label."""
    return " ".join(text.replace("[", "(").replace("]", ")").split())[:80]


# --- presenting ------------------------------------------------------------------------------


class SongPresenter:
    """A progress bar and early "listen now" links while Suno works, then the clips or lyrics."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    def t(self, job: Job, key: str, **params: Any) -> str:
        return self.bot.services.catalog.t(job.locale, key, **params)

    @staticmethod
    def title(job: Job) -> str:
        return str(job.request.get("title_shown") or job.request.get("prompt") or "♪")

    async def progress(self, job: Job, state: TaskState) -> None:
        status = progress_bar(state.progress)
        clips = (state.result or {}).get("clips") or []
        links = [
            f"[{n}. {_plain(str(c.get('title') or '')) or '♪'}](<{c['audio_url']}>)"
            for n, c in enumerate(clips, 1)
            if c.get("status") == "streaming" and c.get("audio_url")
        ]
        if links:
            status += "\n" + self.t(job, "song.listen_now", links=" · ".join(links))
        await show(self.bot, job, card(job.kind, self.title(job), job.user_id, status))

    async def deliver(self, job: Job) -> None:
        if job.status != "succeeded":
            reason = error_text(self.bot, job.locale, job.error)
            note = self.t(job, "jobs.refunded", price=self.price(job))
            status = f"❌ {reason}\n-# {note}"
            await show(self.bot, job, card(job.kind, self.title(job), job.user_id, status))
        elif job.kind == LYRICS:
            await self._deliver_lyrics(job)
        else:
            await self._deliver_music(job)

    def price(self, job: Job) -> int:
        return self.bot.services.config.pricing.action_price(job.kind)

    async def _deliver_lyrics(self, job: Job) -> None:
        result = job.result or {}
        title = str(result.get("title") or "") or self.t(job, "song.untitled")
        embed = discord.Embed(title=title[:256], description=str(result.get("text", ""))[:4096])
        view = discord.ui.View(timeout=None)
        label = self.t(job, "song.make_button")
        view.add_item(MAKE_SONG.button(job=job.id, label=label, emoji="🎵", style=PRIMARY))
        footer = self.t(job, "song.lyrics_footer", price=self.price(job))
        text = card(job.kind, self.title(job), job.user_id, f"-# {footer}")
        await show(self.bot, job, text, embed=embed, view=view)

    async def _deliver_music(self, job: Job) -> None:
        clips = (job.result or {}).get("clips") or []
        shown = [(i, c) for i, c in enumerate(clips) if playable(c)][:MAX_CLIPS]
        files: list[discord.File] = []
        lines: list[str] = []
        linked: list[str] = []  # the same, with links where files may not be attached
        view = discord.ui.View(timeout=None)
        for n, (index, clip) in enumerate(shown, 1):
            clip_lines, listen = await self._clip(job, n, clip, files)
            lines += clip_lines
            linked += [*clip_lines, *listen]
            for action in ("extend", "lyrics"):
                label = self.t(job, f"song.{action}_button", n=n)
                emoji = CLIP_EMOJI[action]
                view.add_item(
                    CLIP.button(
                        job=job.id, clip=index, action=action, label=label, emoji=emoji, row=n - 1
                    )
                )
        model = job.request.get("mv") or "?"
        footer = self.t(job, "song.footer", model=model, price=self.price(job))
        # Within Discord's 2,000 characters, the price line always whole: clip lines that do
        # not fit go into an attached list (or messages after the card), never cut off.
        head = card(job.kind, self.title(job), job.user_id, "").rstrip()
        fitted = link_card(
            self.bot.services.catalog, job.locale, job.id, head, lines, files,
            tail=f"-# {footer}", without_files=linked,
        )  # fmt: skip
        await show_card(self.bot, job, fitted, view)

    async def _clip(
        self, job: Job, n: int, clip: dict[str, Any], files: list[discord.File]
    ) -> tuple[list[str], list[str]]:
        """The clip's lines (title · duration · style, and a link if the mp3 goes as one), its
        mp3 and cover added to ``files``; and the line linking an attached mp3, for a channel
        where files may not be attached."""
        title = str(clip.get("title") or "") or self.t(job, "song.untitled")
        style = " ".join(str(clip.get("tags") or "").split())[:MAX_STYLE] or "—"
        duration = format_time(clip.get("duration"))
        label = self.t(job, "song.style")
        lines = [f"**{n}. {title[:MAX_TITLE]}** · ⏱ {duration} · {label}: {style}"]
        stem = f"{_SLUG.sub('-', title).strip('-').lower()[:40] or 'song'}-{n}"
        url = str(clip["audio_url"])
        audio, too_large = await self._download(job, url, f"{stem}.mp3")
        listen = [self.t(job, "song.audio_link", url=f"<{url}>")]
        if audio is not None:
            files.append(audio)
        else:
            lines += [self.t(job, "jobs.link", url=f"<{url}>")] if too_large else listen
            listen = []
        cover_url = clip.get("image_url")
        if cover_url:
            path = str(cover_url).lower().split("?")[0]
            suffix = "jpg" if path.endswith((".jpg", ".jpeg")) else "png"
            cover, _ = await self._download(job, str(cover_url), f"{stem}-cover.{suffix}")
            if cover is not None:
                files.append(cover)
        return lines, listen

    async def _download(self, job: Job, url: str, name: str) -> tuple[discord.File | None, bool]:
        """The file, or (None, whether it was too large) when it goes as a link instead."""
        try:
            file = await fetch_file(self.bot, job, url, name)
        except UpstreamError as exc:
            # The link still plays; a delivery that never completes would help no one.
            log.warning("job %s: could not download %s: %s", job.id, name, exc)
            return None, False
        return file, file is None


# --- commands --------------------------------------------------------------------------------


class Song(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CLIP.item, MAKE_SONG.item)
        self.bot.services.jobs.set_presenter("suno_", SongPresenter(self.bot))
        # Songs of chat-format models (suno.chat_models) are shown like other media jobs.
        self.bot.services.jobs.set_presenter("media_", MediaPresenter(self.bot))

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CLIP.item, MAKE_SONG.item)

    def _model(self, name: str | None) -> str:
        config = self.bot.services.config.suno
        chosen = config.model(name)
        if chosen is None:
            raise UnknownModel(name or "", model=(name or "")[:100])
        # Before anything is held: a family this gateway does not serve costs nothing.
        self.bot.services.capabilities.require("chat" if chosen in config.chat_models else "suno")
        return chosen

    @app_commands.command(
        name=cmd("song", "song.name"),
        description=cmd("Make a song with Suno", "song.description"),
    )
    @app_commands.describe(
        prompt=cmd("What the song is about; Suno writes the lyrics", "song.prompt"),
        style=cmd("Style: genres, moods, voices", "song.style"),
        title=cmd("The song's title", "song.title"),
        instrumental=cmd("No vocals", "song.instrumental"),
        model=cmd("Suno model", "song.model"),
        custom=cmd("Write the lyrics yourself (opens a form)", "song.custom"),
    )
    @app_commands.guild_only()
    async def song(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, MAX_DESCRIPTION] | None = None,
        style: app_commands.Range[str, 1, MAX_STYLE] | None = None,
        title: app_commands.Range[str, 1, MAX_TITLE] | None = None,
        instrumental: bool = False,
        model: str | None = None,
        custom: bool = False,
    ) -> None:
        mv = self._model(model)
        if custom:
            modal = CustomSongModal(
                self.bot, interaction.locale, mv=mv, instrumental=instrumental,
                title=title or "", tags=style or "", lyrics=prompt or "",
            )  # fmt: skip
            await interaction.response.send_modal(modal)
            return
        description = (prompt or "").strip()
        if not description:
            raise EmptyPrompt("song without a description")
        request = {
            "mode": "inspiration", "prompt": description, "tags": (style or "").strip(),
            "title": (title or "").strip(), "instrumental": instrumental, "mv": mv,
        }  # fmt: skip
        shown = (title or "").strip() or description
        await start_song(interaction, MUSIC, request, prompt=description, title=shown)

    @song.autocomplete("model")
    async def _model_autocomplete(
        self, _interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        config, served = self.bot.services.config.suno, self.bot.services.capabilities.served
        names = [
            *(config.models if served("suno") else []),
            *(config.chat_models if served("chat") else []),
        ]
        return fitting_choices((n, n) for n in names if needle in n.casefold())

    @app_commands.command(
        name=cmd("lyrics", "song.lyrics.name"),
        description=cmd("Write song lyrics with Suno", "song.lyrics.description"),
    )
    @app_commands.describe(prompt=cmd("What the lyrics are about", "song.lyrics.prompt"))
    @app_commands.guild_only()
    async def lyrics(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, MAX_DESCRIPTION],
    ) -> None:
        self.bot.services.capabilities.require("suno")
        text = prompt.strip()
        if not text:
            raise EmptyPrompt("lyrics without a description")
        await start_song(interaction, LYRICS, {"prompt": text}, prompt=text, title=text)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Song(bot))
