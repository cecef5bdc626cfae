"""Every payload builder fits Discord's limits by construction: extreme but legal input
(1,500-character URLs, 400-character file names, 100-character GPT names, long CJK text, the
most results and choices) goes through each builder, and each payload is checked with the
sandbox's own rules (bot/sandbox/discord: the same functions that answer 400 50035)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.gpt_catalog import GPTEntry
from bot.i18n import Catalog
from bot.sandbox.discord.component_rules import (
    autocomplete_errors,
    component_errors,
    modal_errors,
)
from bot.sandbox.discord.validation import message_errors, thread_errors
from bot.splitting import split_text
from cogs import imagine, media, song_views, video
from cogs.autocomplete import fitting_choices
from cogs.cards import describe_card, link_card
from cogs.gpt import thread_name
from cogs.gpts import NameModal, info_embed, list_page
from cogs.imagine_prompt import PromptModal

T = TypeVar("T")
CATALOG = Catalog.load()
BOT: Any = SimpleNamespace(services=SimpleNamespace(catalog=CATALOG))
LOCALES = st.sampled_from(["en-US", "zh-CN"])
USER_IDS = st.integers(min_value=10**16, max_value=2**63 - 1)
# Latin, CJK, emoji and combining marks: long text of every width Discord counts.
TEXT = st.text(
    alphabet=st.sampled_from("abc XYZ 0123 画一只狐狸在雪中 🦊🎨 é\u0301 ` * _ ~ | > @"),
    max_size=3000,
)
URLS = st.integers(min_value=20, max_value=1500).map(
    lambda n: "https://cdn.example/r.png?X-Amz-Signature=" + "f" * (n - 42)
)
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_loop(build: Callable[[], Awaitable[T]]) -> T:
    """discord.py's views and modals want a running event loop when they are made."""
    return asyncio.run(build())  # type: ignore[arg-type]


def fits(content: str) -> None:
    assert message_errors({"content": content}) == {}, len(content)


@PROPS
@given(
    title=TEXT,
    user=USER_IDS,
    locale=LOCALES,
    urls=st.lists(URLS, max_size=media.MAX_FILES),
    attached=st.integers(min_value=0, max_value=media.MAX_FILES),
)
def test_result_cards_fit_and_lose_no_link(
    title: str, user: int, locale: str, urls: list[str], attached: int
) -> None:
    for make in (
        lambda: media.card(title, user, "-# footer"),
        lambda: video.card(title, user, "-# footer"),
        lambda: imagine.card(BOT, locale, title, user, "-# footer"),
    ):
        head = make()
        links = [CATALOG.t(locale, "jobs.link", url=u) for u in urls]
        shown = [CATALOG.t(locale, "jobs.link_unavailable", url=u) for u in urls[:attached]]
        files = [discord.File(io.BytesIO(b"x"), filename=f"{i}.png") for i in range(attached)]
        tail = "-# " + CATALOG.t(locale, "song.footer", model="chirp-v4", price=10**6)
        out = link_card(CATALOG, locale, 7, head, links, files, shown, tail=tail)
        assert out.content.endswith(tail) and out.without_files[0].endswith(tail)
        fits(out.content)
        assert len(out.files) <= 10
        listing = b"".join(f.fp.read() for f in out.files if f.filename.endswith("links.txt"))
        for url in urls:
            assert url in out.content or url in listing.decode()
        assert out.without_files
        for message in out.without_files:
            fits(message)
        everything = "\n".join(out.without_files)
        for url in [*urls, *urls[:attached]]:
            assert url in everything


@PROPS
@given(
    name=st.text(min_size=1, max_size=400),
    user=USER_IDS,
    prompts=st.lists(TEXT, max_size=6),
)
def test_describe_card_fits(name: str, user: int, prompts: list[str]) -> None:
    content = describe_card(f"describe · {name}", user, prompts, "Midjourney · describe · 10")
    fits(content)
    for n in range(1, min(4, len(prompts)) + 1):
        assert f"**{n}.**" in content


BUTTONS = st.lists(
    st.fixed_dictionaries(
        {
            "customId": st.sampled_from(
                ["MJ::JOB::upsample::1::h", "MJ::JOB::reroll::0::h::SOLO", "MJ::Inpaint::1::h"]
            ),
            "label": st.text(max_size=120),
            "emoji": st.one_of(
                st.sampled_from(["", "🔄", "upscale_1", "⬆️", "<:mj:123456789012345678>", "🪄 "]),
                st.text(max_size=20),
            ),
        }
    ).map(lambda b: {**b, "custom_id": b["customId"]}),
    max_size=30,
)


@PROPS
@given(buttons=BUTTONS, locale=LOCALES)
def test_midjourney_buttons_are_valid_components(
    buttons: list[dict[str, Any]], locale: str
) -> None:
    async def build() -> list[dict[str, Any]]:
        return imagine.result_view(BOT, locale, 2**53, buttons).to_components()

    components = in_loop(build)
    assert component_errors(components, v2=False) == {}
    assert message_errors({"content": "card", "components": components}) == {}


@PROPS
@given(default=TEXT, locale=LOCALES)
def test_prompt_modal_is_valid(default: str, locale: str) -> None:
    async def build() -> dict[str, Any]:
        return PromptModal(BOT, locale, default * 3, 1, submit=None).to_dict()  # type: ignore[arg-type]

    assert modal_errors(in_loop(build)) == {}


@PROPS
@given(title=TEXT, tags=TEXT, lyrics=TEXT, locale=LOCALES)
def test_song_modals_are_valid(title: str, tags: str, lyrics: str, locale: str) -> None:
    async def build() -> list[dict[str, Any]]:
        custom = song_views.CustomSongModal(
            BOT, locale, mv="chirp-v4", title=title, tags=tags, lyrics=lyrics * 2
        )
        return [custom.to_dict()]

    for modal in in_loop(build):
        assert modal_errors(modal) == {}


@PROPS
@given(
    entries=st.lists(
        st.tuples(st.text(min_size=1, max_size=100), st.text(min_size=1, max_size=140)),
        max_size=40,
    )
)
def test_autocomplete_answers_are_valid(entries: list[tuple[str, str]]) -> None:
    choices = fitting_choices(entries)
    assert autocomplete_errors([c.to_dict() for c in choices]) == {}
    assert [c.value for c in choices] == [v for _, v in entries if len(v) <= 100][:25]


@PROPS
@given(prompt=TEXT)
def test_thread_names_are_valid(prompt: str) -> None:
    assert thread_errors({"name": thread_name(prompt), "auto_archive_duration": 1440}) == {}


@PROPS
@given(text=TEXT.map(lambda t: t * 4))
def test_streamed_pieces_fit(text: str) -> None:
    for piece in split_text(text):
        fits(piece.content)


@PROPS
@given(
    name=st.text(min_size=1, max_size=100),
    description=TEXT,
    author=TEXT,
    starters=st.lists(TEXT, max_size=6),
    locale=LOCALES,
    avatar=st.one_of(
        st.none(), st.text(max_size=30), st.just("/avatars/a.png"), URLS, st.just("data:x")
    ),
)
def test_gpt_info_embed_is_valid(
    name: str, description: str, author: str, starters: list[str], locale: str, avatar: Any
) -> None:
    entry = GPTEntry(
        gizmo_id="g-" + "a" * 40,
        name=name,
        description=description,
        author=author,
        starters=tuple(starters),
        added_by=2**60,
        avatar_url=avatar,
    )
    embed = info_embed(BOT, locale, entry)
    assert message_errors({"embeds": [embed.to_dict()]}) == {}


@PROPS
@given(
    entries=st.lists(
        st.tuples(st.text(min_size=1, max_size=100), TEXT, st.integers(0, 10**9)),
        max_size=60,
    ),
    page=st.integers(min_value=-3, max_value=10),
    locale=LOCALES,
)
def test_gpt_list_pages_are_valid(
    entries: list[tuple[str, str, int]], page: int, locale: str
) -> None:
    gpts = [
        GPTEntry(gizmo_id=f"g-{i:040d}", name=n, description=d, uses=u)
        for i, (n, d, u) in enumerate(entries)
    ]

    async def build() -> dict[str, Any]:
        shown = list_page(BOT, locale, gpts, page)
        return {"embeds": [shown["embed"].to_dict()], "components": shown["view"].to_components()}

    assert message_errors(in_loop(build)) == {}


@PROPS
@given(locale=LOCALES, title=TEXT, tags=TEXT, duration=st.floats(0, 10**6))
def test_name_and_extend_modals_are_valid(
    locale: str, title: str, tags: str, duration: float
) -> None:
    clip = {"title": title, "tags": tags, "duration": duration}

    async def build() -> list[dict[str, Any]]:
        name = NameModal(SimpleNamespace(bot=BOT), "g-" + "a" * 98, locale, 1)  # type: ignore[arg-type]
        extend = song_views.ExtendModal(BOT, locale, clip=clip, parent=None)  # type: ignore[arg-type]
        return [name.to_dict(), extend.to_dict()]

    for modal in in_loop(build):
        assert modal_errors(modal) == {}
