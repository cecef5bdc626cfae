"""Job cards that fit Discord's limits by construction.

Discord refuses a message over 2,000 characters, and with it the whole edit: a result card
that carried four 460-character presigned links was refused, delivery kept retrying, and the
member never saw what they paid for. So a card never grows past the limit: the links that do
not fit go into an attached text file (or, where files may not be attached, into messages
after the card), and text that is only shown (prompts, titles) is shortened.

Not an extension: the job cogs build their cards here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import discord
import emoji as emoji_data

from bot.app import AtelierBot
from bot.i18n import Catalog
from bot.job_types import Job
from bot.splitting import DISCORD_LIMIT
from cogs.views import show

ELLIPSIS = "…"
# Room kept for the one-line note that says where the links that did not fit went.
NOTE_ROOM = 120
# A custom emoji as Discord writes it in text: <:name:id> or <a:name:id>.
_CUSTOM_EMOJI = re.compile(r"<a?:[A-Za-z0-9_]{2,32}:[0-9]{15,21}>")


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut with an ellipsis when it is longer."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS if limit > 0 else ""


def button_emoji(value: object) -> str | None:
    """An emoji Discord accepts on a button, or None.

    Upstreams (midjourney-proxy's button list) name some emoji by a bare word such as
    ``upscale_1``; Discord refuses those, and with one such button the whole card. Only a
    single Unicode emoji or a custom ``<:name:id>`` is passed on.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if emoji_data.is_emoji(text) or _CUSTOM_EMOJI.fullmatch(text):
        return text
    return None


def embed_image_url(url: object) -> str | None:
    """``url`` if Discord takes it as an embed image or thumbnail (http or https), else None:
    an upstream's relative or data: link would get the whole message refused."""
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2048:
        return url
    return None


def fit_lines(head: str, lines: Sequence[str], limit: int = DISCORD_LIMIT) -> tuple[str, list[str]]:
    """``head`` and then as many whole ``lines`` as fit in ``limit``; the rest are returned."""
    text = head
    for index, line in enumerate(lines):
        if len(text) + 1 + len(line) > limit:
            return text, list(lines[index:])
        text += "\n" + line
    return text, []


def pack(lines: Sequence[str], limit: int = DISCORD_LIMIT) -> list[str]:
    """``lines`` as messages of at most ``limit`` characters, whole lines each; a single line
    longer than a message is cut (only a link can be that long)."""
    out: list[str] = []
    for line in lines:
        line = shorten(line, limit)
        if out and len(out[-1]) + 1 + len(line) <= limit:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def fit_list(head: str, items: Sequence[str], tail: str, limit: int = DISCORD_LIMIT) -> str:
    """``head``, every item on its own line, then ``tail``, in at most ``limit`` characters:
    items too long for an even share of the room are shortened to it. For text that is only
    shown, such as prompts whose buttons carry the full text."""
    room = max(0, limit - len(head) - len(tail) - len(items) - 1)
    shares = {}
    left, count = room, len(items)
    for index in sorted(range(len(items)), key=lambda i: len(items[i])):
        shares[index] = min(len(items[index]), left // count)
        left, count = left - shares[index], count - 1
    body = [shorten(item, shares[i]) for i, item in enumerate(items)]
    return "\n".join([head, *body, tail])


@dataclass
class LinkCard:
    """A result card: what to show with the files, and, when the bot may not attach files
    there, the card and any messages after it that carry every link instead."""

    content: str
    files: list[discord.File] = field(default_factory=list)
    without_files: list[str] = field(default_factory=list)


def link_card(
    catalog: Catalog,
    locale: str,
    job_id: int,
    head: str,
    links: Sequence[str],
    files: Sequence[discord.File] = (),
    attached: Sequence[str] = (),
    *,
    tail: str = "",
    without_files: Sequence[str] | None = None,
) -> LinkCard:
    """``head`` is the card; ``links`` the lines for results that go as links; ``files`` the
    results attached; ``attached`` the lines linking to those, shown only when files cannot
    be attached (``without_files``, when given, is every line for that case); ``tail`` ends
    the card (a price line). Everything fits Discord's limits, whatever the links' length."""
    end = "\n" + tail if tail else ""
    content, spill = fit_lines(head, links, DISCORD_LIMIT - len(end))
    out = list(files)
    if spill:
        # Keep room for the note, then name the true count.
        content, spill = fit_lines(head, links, DISCORD_LIMIT - len(end) - NOTE_ROOM)
        content += "\n" + catalog.t(locale, "cards.links_attached", count=len(spill))
        listing = "\n".join(spill) + "\n"
        out.append(
            discord.File(io.BytesIO(listing.encode()), filename=f"atelier-{job_id}-links.txt")
        )
    every = [*links, *attached] if without_files is None else list(without_files)
    first, rest = fit_lines(head, every, DISCORD_LIMIT - len(end))
    if rest:
        first, rest = fit_lines(head, every, DISCORD_LIMIT - len(end) - NOTE_ROOM)
        first += "\n" + catalog.t(locale, "cards.links_below", count=len(rest))
    return LinkCard(content + end, out, [first + end, *pack(rest)])


def one_result(
    catalog: Catalog,
    locale: str,
    job_id: int,
    head: str,
    url: str,
    file: discord.File | None,
    link: str,
) -> LinkCard:
    """A card for one result: its file, or else ``link`` (the line linking to it). The link
    to an attached file is shown only where files may not be attached, so no card carries
    the same URL twice."""
    instead = [catalog.t(locale, "jobs.link_unavailable", url=url)] if file else []
    links = [link] if link else []
    return link_card(catalog, locale, job_id, head, links, [file] if file else [], instead)


async def show_card(
    bot: AtelierBot, job: Job, fitted: LinkCard, view: discord.ui.View | None = None
) -> None:
    """Show a fitted result card on the job's message (``views.show``)."""
    await show(
        bot,
        job,
        fitted.content,
        files=fitted.files or None,
        view=view,
        without_files=fitted.without_files,
    )


def describe_card(title: str, user_id: int, prompts: list[str], footer: str) -> str:
    """The /describe result: its four prompts, shortened to fit one message (the buttons
    under it imagine the full prompt)."""
    head = f"🎨 **{title[:300]}** — <@{user_id}>"
    items = [f"**{i + 1}.** {p[:400]}" for i, p in enumerate(prompts[:5])]
    return fit_list(head, items, f"-# {footer}")
