"""Animate's options: where the default video model has several lengths, modes or a sound
switch, a private menu shows each choice with its price first; the form then shows the chosen
price, and exactly that is held and settled."""

from __future__ import annotations

from typing import Any

from bot.config import VideoModel
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, private_reply, restart_with, run_slash
from tests.test_e2e_animate import animate, button_id, finished_video, video_cards
from tests.test_e2e_imagine import FAST_JOBS, balance, finished_card
from tests.test_e2e_video_pricing import KLING_PRO

IMAGE_PRICE = 40
CONFIG: dict[str, Any] = {
    "chat": FAST_CHAT,
    "jobs": FAST_JOBS,
    "image": {"models": [{"name": "flux-dev", "adapter": "unified", "price": IMAGE_PRICE}]},
    "video": {"default_model": "kling-v2-master", "models": [KLING_PRO]},
}
# KLING_PRO's rules: std 10/s, pro 20 + 20/s, sound on 50 + 20/s; the default comes first.
MENU = [
    "5 s · 16:9 · std · 🔇 · 50 credits",
    "5 s · 16:9 · std · 🔊 · 150 credits",
    "5 s · 16:9 · pro · 🔇 · 120 credits",
    "5 s · 16:9 · pro · 🔊 · 150 credits",
    "10 s · 16:9 · std · 🔇 · 100 credits",
    "10 s · 16:9 · std · 🔊 · 250 credits",
    "10 s · 16:9 · pro · 🔇 · 220 credits",
    "10 s · 16:9 · pro · 🔊 · 250 credits",
]
TEN_PRO = 220


async def image_card(world: SandboxWorld, member: int, prompt: str, index: int = 0) -> Any:
    await run_slash(world, member, "imagine", {"prompt": prompt, "model": "flux-dev"})
    return await finished_card(world, index)


def menu_of(message: Any) -> dict[str, Any]:
    [select] = message.components[0]["components"]
    assert select["type"] == 3
    return select


async def options_menu(world: SandboxWorld, image: Any, member: int) -> tuple[Any, dict[str, Any]]:
    """Press the card's Animate: the private menu of choices, and its select."""
    pressed = await world.discord.click(image.id, button_id(image, "Animate"), member)
    menu = await private_reply(world, pressed)
    return menu, menu_of(menu)


async def test_a_chosen_length_and_mode_is_shown_held_and_charged_exactly() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        image = await image_card(world, member, "a lighthouse")
        menu, select = await options_menu(world, image, member)
        assert menu.ephemeral and "job #1" in menu.content
        assert [o["label"] for o in select["options"]] == MENU
        assert await balance(world) == 1000 - IMAGE_PRICE  # nothing held for a look
        await world.restart_bot()  # the menu names only the image: it survives
        ten_pro = select["options"][MENU.index(f"10 s · 16:9 · pro · 🔇 · {TEN_PRO} credits")]
        opened = await world.discord.click(
            menu.id, select["custom_id"], member, values=[ten_pro["value"]]
        )
        await opened.wait_response(timeout=5)
        assert opened.modal is not None and opened.modal["title"] == f"Animate · {TEN_PRO} credits"
        assert await balance(world) == 1000 - IMAGE_PRICE
        sent = await animate(world, opened, member, "the beam sweeps the fog")
        assert f"{TEN_PRO} credits held" in (await private_reply(world, sent)).content
        video = await finished_video(world)
        assert video.attachments[0].data[4:8] == b"ftyp"
        assert f"Price: **{TEN_PRO}** credits (10 s · 16:9 · pro · 🔇)" in video.history[0][1]
        [call] = world.upstream.requests_to("/kling/v1/videos/image2video")
        assert (call.json["duration"], call.json["mode"], call.json["sound"]) == (
            "10",
            "pro",
            "off",
        )
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and (hold.amount, hold.actual) == (TEN_PRO, TEN_PRO)
        assert hold.status == "settled"
        assert await balance(world) == 1000 - IMAGE_PRICE - TEN_PRO
        assert await world.services.ledger.check() == []


async def test_animate_to_asks_for_the_options_in_place_of_its_menu_in_the_members_language() -> (
    None
):
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("lei", locale="zh-CN")
        first = await image_card(world, member, "dawn")
        await image_card(world, member, "dusk", 1)
        pressed = await world.discord.click(
            first.id, button_id(first, "Animate to…"), member, locale="zh-CN"
        )
        menu = await private_reply(world, pressed)
        frames = menu_of(menu)
        picked = await world.discord.click(
            menu.id, frames["custom_id"], member, locale="zh-CN", values=["2"]
        )
        await picked.wait_response(timeout=5)
        shown = world.discord.message(menu.id)  # the same private message, now the options
        choices = menu_of(shown)
        assert choices["options"][0]["label"] == "5 s · 16:9 · std · 🔇 · 50 积分"
        assert "#1" in shown.content and "积分" in shown.content
        opened = await world.discord.click(
            menu.id, choices["custom_id"], member, locale="zh-CN",
            values=[choices["options"][4]["value"]],  # 10 s · std · 🔇: 100
        )  # fmt: skip
        await animate(world, opened, member, "")
        await finished_video(world)
        [call] = world.upstream.requests_to("/kling/v1/videos/image2video")
        assert call.json["image_tail"] and call.json["duration"] == "10"
        assert await balance(world) == 1000 - 2 * IMAGE_PRICE - 100
        assert await world.services.ledger.check() == []


async def test_a_choice_the_model_no_longer_offers_is_refused_for_free() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        image = await image_card(world, member, "a kite")
        menu, select = await options_menu(world, image, member)
        opened = await world.discord.click(
            menu.id, select["custom_id"], member,
            values=[select["options"][-1]["value"]],  # 10 s
        )  # fmt: skip
        await opened.wait_response(timeout=5)
        shorter = VideoModel.model_validate({**KLING_PRO, "durations": [5]})
        await restart_with(world, "video", models=[shorter])
        refusal = await private_reply(world, await animate(world, opened, member, "fly"))
        assert refusal.ephemeral and "no longer offers that choice" in refusal.content
        assert video_cards(world) == []
        assert world.upstream.requests_to("/kling/v1/videos/image2video") == []
        assert await balance(world) == 1000 - IMAGE_PRICE
