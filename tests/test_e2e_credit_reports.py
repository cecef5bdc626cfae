"""/credit prices, history filters and usage pages end to end, through the sandbox gateway."""

from __future__ import annotations

from typing import Any

from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, edited, final_answer, private_reply, run_slash, wait_until

PER_CALL = {"chat": [{"pattern": "*", "per_call": 10}]}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "pricing": PER_CALL}


def fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def footer(message: Message) -> str:
    return message.embeds[0]["footer"]["text"]


def buttons(message: Message) -> list[dict[str, Any]]:
    return [c for row in message.components for c in row["components"]]


async def turn(world: SandboxWorld, message: Message, index: int) -> Message:
    """Press ◀ (0) or ▶ (1) as the owner; the page is edited in place (after the press is
    acknowledged: the report and its chart take a while)."""
    before = world.discord.message(message.id).edited_at
    click = await world.discord.click(message.id, buttons(message)[index]["custom_id"],
                                      world.owner_id)  # fmt: skip
    await click.wait_response(timeout=5)
    return await edited(world, message.id, before)


async def test_prices_lists_every_configured_price_in_the_members_language() -> None:
    pricing = {
        "chat": [{"pattern": "gpt-4o*", "per_call": 3, "per_1k_input": 5, "per_1k_output": 15}],
        "actions": {"mj_imagine": 25, "image": 30},
    }
    video = {"models": [{"name": "kling-v1", "adapter": "kling", "durations": [5, 10],
                         "price_per_second": 12}], "default_model": "kling-v1"}  # fmt: skip
    image = {"models": [{"name": "midjourney", "adapter": "midjourney"},
                        {"name": "dall-e-3", "adapter": "images"},
                        {"name": "flux", "adapter": "chat", "price": 7}]}  # fmt: skip
    config = {"pricing": pricing, "video": video, "image": image}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("curious")
        handle = await run_slash(world, member, "credit prices")
        [reply] = world.discord.interaction_messages(handle)  # an embed, no text
        assert reply.ephemeral and reply.embeds[0]["title"] == "Prices in credits"
        shown = fields(reply)
        assert shown["/gpt"] == (
            "`gpt-4o*` — 3 per call + 5 per 1K input tokens + 15 per 1K output tokens"
        )
        assert shown["/imagine"].splitlines() == [
            "`midjourney` — 25", "`dall-e-3` — 30", "`flux` — 7"
        ]  # fmt: skip
        assert shown["/video"] == "`kling-v1` — 5 s: 60 · 10 s: 120"
        actions = shown["Images, music and video (per call)"].splitlines()
        assert "`mj_imagine` — 25" in actions and "`mj_upscale` — 10" in actions
        assert len(actions) == len(world.config.pricing.actions)
        assert shown["/speak"] == "`tts-1` — 2 credits per 1,000 characters read aloud"

        lei = world.add_member("李雷", locale="zh-CN")
        handle = await run_slash(world, lei, "credit prices", locale="zh-CN")
        [reply] = world.discord.interaction_messages(handle)
        assert reply.embeds[0]["title"] == "价格（积分）"
        assert "每次 3" in fields(reply)["/gpt"]
        assert fields(reply)["/speak"] == "`tts-1` — 朗读每 1,000 个字符 2 积分"


async def test_history_filters_by_member_and_kind_and_keeps_them_across_pages() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        busy, quiet = world.add_member("busy"), world.add_member("quiet")
        for member in [busy] * 11 + [quiet]:
            ask = await run_slash(world, member, "gpt", {"prompt": "hi", "private": True})
            await final_answer(world, ask)
        grant = await run_slash(
            world, world.owner_id, "credit grant", {"amount": 50, "note": "gift"}
        )
        await private_reply(world, grant)

        handle = await run_slash(world, world.owner_id, "credit history", {"member": busy})
        page = world.discord.interaction_messages(handle)[0]
        assert footer(page) == "Page 1 of 2"
        lines = page.embeds[0]["description"].splitlines()
        assert len(lines) == 10 and all(f"<@{busy}> **hold** -10" in line for line in lines)
        page = await turn(world, page, 1)  # the filter lives in the button
        assert footer(page) == "Page 2 of 2"
        [last] = page.embeds[0]["description"].splitlines()
        assert f"<@{busy}> **hold** -10" in last and f"gpt:{busy}" not in last

        handle = await run_slash(world, world.owner_id, "credit history", {"kind": "grant"})
        page = world.discord.interaction_messages(handle)[0]
        [grant] = page.embeds[0]["description"].splitlines()
        assert f"<@{world.owner_id}> **grant** +50 · gift" in grant
        assert footer(page) == "Page 1 of 1" and all(b["disabled"] for b in buttons(page))

        handle = await run_slash(
            world, world.owner_id, "credit history", {"member": quiet, "kind": "grant"}
        )
        page = world.discord.interaction_messages(handle)[0]
        assert page.embeds[0]["description"] == "No ledger rows match."


async def test_usage_pages_through_every_spender_and_survives_a_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        ledger = world.services.ledger
        members = [world.add_member(f"m{n}") for n in range(12)]
        for n, member in enumerate(members):  # m11 spent most, m0 least
            hold = await ledger.hold(world.guild_id, member, 5 + n, key=f"u{n}",
                                     command="gpt:gpt-4o-mini")  # fmt: skip
            await ledger.settle(hold, 5 + n)
        plain = world.add_member("plain")
        refused = await private_reply(world, await run_slash(world, plain, "credit usage"))
        assert "Manage Server" in refused.content

        handle = await run_slash(world, world.owner_id, "credit usage", {"days": 30})
        await wait_until(lambda: bool(world.discord.interaction_messages(handle)[0].attachments))
        page = world.discord.interaction_messages(handle)[0]
        total = sum(5 + n for n in range(12))
        assert page.embeds[0]["title"] == f"Spend in the last 30 days: {total} credits"
        assert footer(page) == "Page 1 of 2"
        spenders = fields(page)["By member"].splitlines()
        assert spenders == [f"<@{members[n]}> — {5 + n}" for n in range(11, 1, -1)]
        assert fields(page)["By command"] == f"gpt — {total}"
        assert [b["disabled"] for b in buttons(page)] == [True, False]

        await world.restart_bot()  # the buttons keep working: the page is in their custom_id
        page = await turn(world, page, 1)
        assert footer(page) == "Page 2 of 2"
        assert fields(page)["By member"].splitlines() == [
            f"<@{members[1]}> — 6", f"<@{members[0]}> — 5"
        ]  # fmt: skip
        assert fields(page)["By command"] == "—"  # one command: page 1 showed it
        assert page.attachments[0].filename == "usage.png"
        assert page.attachments[0].data.startswith(b"\x89PNG")
        assert [b["disabled"] for b in buttons(page)] == [False, True]
        page = await turn(world, page, 0)
        assert footer(page) == "Page 1 of 2" and len(fields(page)["By member"].splitlines()) == 10
