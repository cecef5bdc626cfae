"""/gpts end to end: sharing, listing, removing, searching and defaulting custom GPTs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.discord.permissions import DEFAULT_MEMBER, MANAGE_GUILD
from bot.sandbox.upstream.gpts import Gizmo
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    custom_ids,
    final_answer,
    run_slash,
    shown_reply,
    wait_until,
)

DALLE = "g-2fkFE8rbu"
IMAGES = "g-pmuQfob8d"
TRANSLATOR = "g-alKfVrz9K"
MODERATOR = DEFAULT_MEMBER | MANAGE_GUILD


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every path here is expected: nothing may reach the log as an unhandled error."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def world() -> SandboxWorld:
    return SandboxWorld(config={"chat": FAST_CHAT})


async def only_message(world: SandboxWorld, handle: InteractionHandle) -> Message:
    """The answer, once shown: commands that wait on anything acknowledge first."""
    return await shown_reply(world, handle)


def field_names(message: Message) -> list[str]:
    return [f["name"] for f in message.embeds[0].get("fields", [])]


def field(message: Message, name: str) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == name)


def button(message: Message, label: str) -> dict[str, Any]:
    return next(
        c for row in message.components for c in row["components"] if c.get("label") == label
    )


async def share(world: SandboxWorld, member: int, gpt: str, **kw: Any) -> Message:
    handle = await run_slash(world, member, "gpts add", {"id": gpt}, **kw)
    return await only_message(world, handle)


async def name_modal(world: SandboxWorld, handle: InteractionHandle, member: int) -> Any:
    """After a failed lookup: the private "Name it" answer (the public "thinking" reply is
    gone), and the modal its button opens; returns the press, which carries the modal."""
    question = await shown_reply(world, handle)
    assert question.ephemeral and "couldn't look this GPT up" in question.content
    [custom_id] = custom_ids(question)
    press = await world.discord.click(question.id, custom_id, member)
    await press.wait_response()
    assert press.modal is not None
    return press


async def ask(world: SandboxWorld, member: int, options: dict[str, Any]) -> list[Message]:
    handle = await run_slash(world, member, "gpt", options)
    return await final_answer(world, handle)


# -- /gpts add ---------------------------------------------------------------------------------


async def test_add_by_id_and_by_link_stores_what_the_upstream_says() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        message = await share(w, alice, DALLE)
        assert not message.ephemeral
        assert message.content.startswith(f"Added **DALL·E** (`{DALLE}`)")
        embed = message.embeds[0]
        assert embed["title"] == "DALL·E"
        assert field(message, "Added by") == f"<@{alice}>"
        assert "Draw a cat" in field(message, "Conversation starters")
        [lookup] = w.upstream.requests_to("/v1/gpts/")
        assert lookup.query == {"id": DALLE}

        link = f"https://chatgpt.com/g/{IMAGES}-image-generator"
        message = await share(w, alice, link)
        assert "**Image Generator**" in message.content

        entry = await w.services.gpt_catalog.find(w.guild_id, IMAGES)
        assert entry.name == "Image Generator"
        assert entry.description == "A GPT for images and art."
        assert entry.author == "sandbox author"
        assert entry.starters == ("A sunset over mountains",)
        assert entry.added_by == alice


async def test_adding_again_or_an_invalid_id_is_answered_privately() -> None:
    async with world() as w:
        alice, bob = w.add_member("alice"), w.add_member("bob")
        await share(w, alice, DALLE)
        again = await share(w, bob, f"https://chatgpt.com/g/{DALLE}-dall-e")
        assert again.ephemeral
        assert again.content == "**DALL·E** is already shared in this server."
        assert (await w.services.gpt_catalog.find(w.guild_id, DALLE)).added_by == alice

        invalid = await share(w, bob, "not-a-gpt")
        assert invalid.ephemeral
        assert invalid.content.startswith("`not-a-gpt` is not a GPT id.")
        assert len(await w.services.gpt_catalog.list(w.guild_id)) == 1


async def test_lookup_failure_asks_for_a_name_and_adds_under_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with world() as w:
        alice = w.add_member("alice")
        w.upstream.inject_error("upstream_failure", path_regex="/v1/gpts")
        handle = await name_modal(w, await run_slash(w, alice, "gpts add", {"id": DALLE}), alice)
        assert handle.modal["title"] == "Name this GPT"
        submit = await w.discord.submit_modal(
            w.guild_id, w.channel_id, alice, handle.modal["custom_id"], {"name": " My Artist "}
        )
        await submit.wait_response()
        message = await only_message(w, submit)
        assert message.content.startswith(f"Added **My Artist** (`{DALLE}`)")
        entry = await w.services.gpt_catalog.find(w.guild_id, DALLE)
        assert (entry.name, entry.added_by, entry.description) == ("My Artist", alice, "")
        assert any(r.levelno == logging.WARNING and DALLE in r.getMessage() for r in caplog.records)


async def test_unknown_gizmo_404_also_falls_back_to_a_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with world() as w:
        alice = w.add_member("alice")
        added = await run_slash(w, alice, "gpts add", {"id": "g-Unknown123"})
        handle = await name_modal(w, added, alice)
        submit = await w.discord.submit_modal(
            w.guild_id, w.channel_id, alice, handle.modal["custom_id"], {"name": "Mystery"}
        )
        await submit.wait_response()
        assert "**Mystery**" in (await only_message(w, submit)).content
        assert (await w.services.gpt_catalog.find(w.guild_id, "mystery")).gizmo_id == (
            "g-Unknown123"
        )
        assert any("g-Unknown123" in r.getMessage() for r in caplog.records)


async def test_slow_lookup_is_acknowledged_in_time_and_asks_for_a_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with world() as w:
        # load_extension executes the cog module afresh, so patch the one the bot runs.
        monkeypatch.setattr(sys.modules["cogs.gpts"], "LOOKUP_TIMEOUT", 0.2)
        w.upstream.gpts.delay = 2.0
        alice = w.add_member("alice")
        added = await run_slash(w, alice, "gpts add", {"id": DALLE})
        assert added.responded_at is not None and added.responded_at - added.created_at < 1.0
        handle = await name_modal(w, added, alice)
        submit = await w.discord.submit_modal(
            w.guild_id, w.channel_id, alice, handle.modal["custom_id"], {"name": "   "}
        )
        await only_message(w, submit)
        # A blank name is no name: the GPT is listed under its id rather than as "".
        assert (await w.services.gpt_catalog.find(w.guild_id, DALLE)).name == DALLE


async def test_odd_upstream_answers_are_read_tolerantly() -> None:
    odd = {
        "code": 0,
        "data": {
            "gizmo": {
                "id": "g-Odd12345",
                "author": "someone",
                "display": {"name": "N" * 300, "prompt_starters": "Say hi"},
            }
        },
    }
    async with world() as w:
        alice = w.add_member("alice")
        w.upstream.inject("/v1/gpts", 200, odd)
        message = await share(w, alice, "g-Odd12345")
        assert not message.ephemeral
        assert message.embeds[0]["title"] == "N" * 200
        entry = await w.services.gpt_catalog.find(w.guild_id, "g-Odd12345")
        assert (entry.name, entry.author, entry.starters) == ("N" * 200, "someone", ("Say hi",))

        # A shape we cannot read at all is a failed lookup: ask for a name.
        w.upstream.inject("/v1/gpts", 200, {"code": 0, "data": [{"gizmo": "?"}]})
        await name_modal(w, await run_slash(w, alice, "gpts add", {"id": DALLE}), alice)


async def test_an_already_shared_gpt_is_not_looked_up_again() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        await share(w, alice, TRANSLATOR)
        w.upstream.inject_error("upstream_failure", path_regex="/v1/gpts")
        again = await share(w, alice, TRANSLATOR)
        assert again.ephemeral and again.content == "**翻译大师** is already shared in this server."
        assert len(w.upstream.requests_to("/v1/gpts/")) == 1


async def test_chinese_member_reads_chinese_replies() -> None:
    async with world() as w:
        li = w.add_member("李雷", locale="zh-CN")
        message = await share(w, li, TRANSLATOR, locale="zh-CN")
        assert message.content.startswith(f"已将 **翻译大师**（`{TRANSLATOR}`）添加到本服务器")
        assert field(message, "作者") == "沙盒作者"
        again = await share(w, li, TRANSLATOR, locale="zh-CN")
        assert again.ephemeral and again.content == "**翻译大师** 已经共享在本服务器中。"
        handle = await run_slash(w, li, "gpts list", locale="zh-CN")
        listing = await only_message(w, handle)
        assert listing.embeds[0]["title"] == "本服务器共享的 GPT"
        assert field_names(listing) == ["翻译大师 · 已使用 0 次"]
        assert listing.embeds[0]["footer"]["text"] == "第 1 / 1 页"


# -- /gpts list --------------------------------------------------------------------------------


async def test_list_is_most_used_first_and_pages_survive_a_restart() -> None:
    async with world() as w:
        for n in range(4):
            gizmo = Gizmo(f"g-Extra{n}abc", f"Extra {n}", f"Extra GPT number {n}")
            w.upstream.gpts.gizmos[gizmo.id] = gizmo
        alice = w.add_member("alice")
        ids = [DALLE, IMAGES, TRANSLATOR, *(f"g-Extra{n}abc" for n in range(4))]
        for gizmo_id in ids:
            await share(w, alice, gizmo_id)
        for _ in range(2):
            await ask(w, alice, {"prompt": "hi", "gpt": "g-Extra3abc"})
        await ask(w, alice, {"prompt": "hi", "gpt": TRANSLATOR})

        handle = await run_slash(w, alice, "gpts list")
        listing = await only_message(w, handle)
        assert field_names(listing) == [
            "Extra 3 · used 2×",
            "翻译大师 · used 1×",
            "DALL·E · used 0×",
            "Extra 0 · used 0×",
            "Extra 1 · used 0×",
        ]
        assert listing.embeds[0]["footer"]["text"] == "Page 1 of 2"
        assert button(listing, "◀")["disabled"]

        click = await w.discord.click(listing.id, button(listing, "▶")["custom_id"], alice)
        await click.wait_response()
        page2 = w.discord.message(listing.id)
        assert field_names(page2) == ["Extra 2 · used 0×", "Image Generator · used 0×"]
        assert page2.embeds[0]["footer"]["text"] == "Page 2 of 2"
        assert button(page2, "▶").get("disabled")

        await w.restart_bot()
        bob = w.add_member("bob")
        click = await w.discord.click(listing.id, button(page2, "◀")["custom_id"], bob)
        await click.wait_response()
        page1 = w.discord.message(listing.id)
        assert field_names(page1)[0] == "Extra 3 · used 2×"
        assert page1.embeds[0]["footer"]["text"] == "Page 1 of 2"


async def test_list_of_an_empty_catalog_says_how_to_add() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        listing = await only_message(w, await run_slash(w, alice, "gpts list"))
        assert listing.embeds[0]["description"] == "No GPTs yet. Add one with `/gpts add`."
        assert button(listing, "▶").get("disabled") and button(listing, "◀").get("disabled")


# -- /gpts info and autocomplete ----------------------------------------------------------------


async def test_info_and_autocomplete_show_shared_gpts() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        await share(w, alice, DALLE)
        await share(w, alice, TRANSLATOR)

        for command in ("gpts info", "gpts remove", "gpts default", "gpt"):
            handle = await w.discord.autocomplete(
                w.guild_id, w.channel_id, w.owner_id, command, focused="gpt"
            )
            await handle.wait_response()
            assert {c["value"] for c in handle.choices or []} == {DALLE, TRANSLATOR}

        handle = await w.discord.autocomplete(
            w.guild_id, w.channel_id, alice, "gpts info", {"gpt": "dall"}, focused="gpt"
        )
        await handle.wait_response()
        assert handle.choices == [{"name": "DALL·E", "value": DALLE}]

        info = await only_message(w, await run_slash(w, alice, "gpts info", {"gpt": DALLE}))
        assert info.embeds[0]["title"] == "DALL·E"
        assert info.embeds[0]["description"] == "Let me turn your imagination into imagery."
        assert field(info, "Author") == "sandbox author"

        by_name = await only_message(w, await run_slash(w, alice, "gpts info", {"gpt": "dall·e"}))
        assert by_name.embeds[0]["title"] == "DALL·E"

        w.upstream.gpts.gizmos["g-Uber12345"] = Gizmo("g-Uber12345", "Über Coach")
        await share(w, alice, "g-Uber12345")
        by_name = await only_message(
            w, await run_slash(w, alice, "gpts info", {"gpt": "über coach"})
        )
        assert by_name.embeds[0]["title"] == "Über Coach"

        missing = await only_message(w, await run_slash(w, alice, "gpts info", {"gpt": "nothing"}))
        assert missing.ephemeral and "No GPT called `nothing`" in missing.content


# -- /gpts remove ------------------------------------------------------------------------------


async def test_remove_is_for_the_adder_or_a_manage_guild_member() -> None:
    async with world() as w:
        alice, bob = w.add_member("alice"), w.add_member("bob")
        mod = w.add_member("mod", permissions=MODERATOR)
        await share(w, alice, DALLE)
        await share(w, alice, IMAGES)

        refused = await only_message(w, await run_slash(w, bob, "gpts remove", {"gpt": DALLE}))
        assert refused.ephemeral
        assert refused.content == (
            "Only the member who added **DALL·E**, or someone with Manage Server, can remove it."
        )
        assert len(await w.services.gpt_catalog.list(w.guild_id)) == 2

        removed = await only_message(w, await run_slash(w, alice, "gpts remove", {"gpt": DALLE}))
        assert removed.content == "Removed **DALL·E** from this server."
        removed = await only_message(w, await run_slash(w, mod, "gpts remove", {"gpt": IMAGES}))
        assert removed.content == "Removed **Image Generator** from this server."
        assert await w.services.gpt_catalog.list(w.guild_id) == []


# -- /gpts search ------------------------------------------------------------------------------


async def test_search_buttons_add_the_gpt_even_after_a_restart() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        handle = await run_slash(w, alice, "gpts search", {"query": "image"})
        results = await w.discord.wait_for_message(
            lambda m: m.interaction_id == handle.id and bool(m.embeds)
        )
        assert results.embeds[0]["title"] == "GPTs matching “image”"
        assert field_names(results) == ["1. DALL·E", "2. Image Generator"]
        labels = [c["label"] for row in results.components for c in row["components"]]
        assert labels == ["Add to this server 1", "Add to this server 2"]

        click = await w.discord.click(results.id, f"atelier:gpts:add:{IMAGES}", alice)
        await click.wait_response()
        assert "**Image Generator**" in (await only_message(w, click)).content

        await w.restart_bot()
        bob = w.add_member("bob")
        click = await w.discord.click(results.id, f"atelier:gpts:add:{DALLE}", bob)
        await click.wait_response()
        assert "**DALL·E**" in (await only_message(w, click)).content
        entry = await w.services.gpt_catalog.find(w.guild_id, DALLE)
        assert entry.added_by == bob

        click = await w.discord.click(results.id, f"atelier:gpts:add:{DALLE}", alice)
        await click.wait_response()
        assert (await only_message(w, click)).ephemeral


async def test_search_without_results_says_so() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        handle = await run_slash(w, alice, "gpts search", {"query": "zzz"})
        message = await w.discord.wait_for_message(
            lambda m: m.interaction_id == handle.id and "zzz" in m.content
        )
        assert message.content == "No GPTs found for “zzz”."


async def test_search_failure_is_told_privately_and_leaves_nothing_public() -> None:
    async with world() as w:
        alice = w.add_member("alice", locale="zh-CN")
        w.upstream.inject("/v2/gpts/search", 502, "<html>Bad Gateway</html>")
        handle = await run_slash(w, alice, "gpts search", {"query": "dall"}, locale="zh-CN")
        await wait_until(lambda: any(m.ephemeral for m in w.discord.interaction_messages(handle)))
        thinking, message = w.discord.interaction_messages(handle)
        assert thinking.deleted and message.ephemeral and "AI 服务" in message.content


async def test_search_skips_repeated_and_malformed_ids() -> None:
    found = [
        {"id": DALLE, "title": "DALL·E"},
        {"id": DALLE, "title": "DALL·E again"},
        {"id": "not an id", "title": "Broken"},
        {"id": IMAGES, "title": "Image Generator"},
    ]
    async with world() as w:
        alice = w.add_member("alice")
        w.upstream.inject("/v2/gpts/search", 200, {"code": 0, "msg": "ok", "data": found})
        handle = await run_slash(w, alice, "gpts search", {"query": "dall"})
        results = await w.discord.wait_for_message(
            lambda m: m.interaction_id == handle.id and bool(m.embeds)
        )
        assert field_names(results) == ["1. DALL·E", "2. Image Generator"]
        assert custom_ids(results) == [f"atelier:gpts:add:{DALLE}", f"atelier:gpts:add:{IMAGES}"]


# -- /gpts default -----------------------------------------------------------------------------


async def test_default_needs_manage_guild_and_then_answers_plain_gpt_prompts() -> None:
    async with world() as w:
        alice = w.add_member("alice")
        mod = w.add_member("mod", permissions=MODERATOR)
        await share(w, alice, DALLE)

        refused = await only_message(w, await run_slash(w, alice, "gpts default", {"gpt": DALLE}))
        assert refused.ephemeral
        assert refused.content == "You need the Manage Server permission to do that."
        assert await w.services.gpt_catalog.default(w.guild_id) is None

        done = await only_message(w, await run_slash(w, mod, "gpts default", {"gpt": DALLE}))
        assert done.content == "`/gpt` now uses **DALL·E** when no GPT or model is named."

        [answer] = await ask(w, alice, {"prompt": "draw me a cat"})
        assert "DALL·E" in answer.content.rsplit("\n-# ", 1)[1]
        [request] = w.upstream.requests_to("/v1/chat/completions")
        assert request.json["model"] == f"gpt-4-gizmo-{DALLE}"
        assert (await w.services.gpt_catalog.find(w.guild_id, DALLE)).uses == 1

        # Removing the default GPT puts /gpt back on the configured model.
        await only_message(w, await run_slash(w, alice, "gpts remove", {"gpt": DALLE}))
        assert await w.services.gpt_catalog.default(w.guild_id) is None
        await ask(w, alice, {"prompt": "and now?"})
        request = w.upstream.requests_to("/v1/chat/completions")[-1]
        assert request.json["model"] == w.config.chat.default_model
