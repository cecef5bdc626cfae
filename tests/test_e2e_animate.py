"""Animate and "Animate to…": an image result becomes a video, priced before anything is held."""

from __future__ import annotations

import base64
from typing import Any

from bot.config import VideoModel
from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, custom_ids, private_reply, restart_with, run_slash, wait_until
from tests.test_e2e_imagine import FAST_JOBS, balance, finished_card, labels

KLING_PRICE, LUMA_PRICE, VEO_PRICE = 60, 45, 70  # 12 a second for Kling's 5 s
# One length each: Animate opens its form at once (the options step: test_e2e_animate_options).
VIDEO_MODELS = [
    {"name": "kling-v1", "adapter": "kling", "durations": [5], "aspects": ["16:9", "1:1"],
     "price_per_second": 12},
    {"name": "luma", "adapter": "luma", "durations": [5], "aspects": ["16:9"], "price": LUMA_PRICE},
    {"name": "veo-3.0-generate-001", "adapter": "unified", "durations": [8], "aspects": ["16:9"],
     "price": VEO_PRICE},
]  # fmt: skip
IMAGE_MODELS = [
    {"name": "midjourney", "adapter": "midjourney"},
    {"name": "flux-dev", "adapter": "unified", "price": 40},
]


def config(default_model: str = "kling-v1") -> dict[str, Any]:
    return {
        "chat": FAST_CHAT,
        "jobs": FAST_JOBS,
        "image": {"models": IMAGE_MODELS},
        "video": {"default_model": default_model, "models": VIDEO_MODELS},
    }


def video_cards(world: SandboxWorld) -> list[Message]:
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if not m.ephemeral and m.content.startswith("🎬")
    ]


async def finished_video(world: SandboxWorld) -> Message:
    await wait_until(lambda: any("-# " in m.content for m in video_cards(world)), timeout=15)
    return video_cards(world)[0]


async def upscale(world: SandboxWorld, member: int, prompt: str) -> Message:
    """A Midjourney grid, then its U1: the upscale card."""
    await run_slash(world, member, "imagine", {"prompt": prompt})
    grid = await finished_card(world)
    pressed = await world.discord.click(grid.id, custom_ids(grid)[0], member)
    await pressed.wait_response(timeout=5)
    return await finished_card(world, 1)


def button_id(message: Message, label: str) -> str:
    return custom_ids(message)[labels(message).index(label)]


async def animate(
    world: SandboxWorld, opened: InteractionHandle, member: int, motion: str
) -> InteractionHandle:
    """Submit the modal a press opened; returns the submit's handle once acknowledged."""
    await opened.wait_response(timeout=5)
    assert opened.modal is not None
    sent = await world.discord.submit_modal(
        world.guild_id, world.channel_id, member, opened.modal["custom_id"], {"motion": motion}
    )
    await sent.wait_response(timeout=5)
    return sent


def link_to(world: SandboxWorld, message: Message) -> str:
    return f"https://discord.com/channels/{world.guild_id}/{world.channel_id}/{message.id}"


async def test_animate_an_upscale_after_a_restart_charges_the_price_in_the_title() -> None:
    async with SandboxWorld(config=config()) as world:
        member = world.add_member("alice")
        image = await upscale(world, member, "a lighthouse --ar 3:2")
        assert {"Animate", "Animate to…"} <= set(labels(image))
        await world.restart_bot()  # the button names only the job; the link is in the database
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        await opened.wait_response(timeout=5)
        assert opened.modal is not None
        assert opened.modal["title"] == f"Animate · {KLING_PRICE} credits"
        assert await balance(world) == 1000 - 20 - 10  # nothing held before the submit
        await world.restart_bot()  # the open form survives a restart too
        sent = await animate(world, opened, member, "waves roll in, slow zoom")
        assert f"{KLING_PRICE} credits held" in (await private_reply(world, sent)).content
        video = await finished_video(world)
        [clip] = video.attachments
        assert clip.filename.endswith(".mp4") and clip.data[4:8] == b"ftyp"
        assert link_to(world, image) in video.content  # back to the image it animates
        [call] = world.upstream.requests_to("/kling/v1/videos/image2video")
        assert call.json["prompt"] == "waves roll in, slow zoom"
        assert base64.b64decode(call.json["image"]).startswith(b"\x89PNG")  # bare base64
        assert "image_tail" not in call.json
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and hold.amount == KLING_PRICE
        assert (hold.command, hold.status) == ("video:kling-v1", "settled")
        assert await balance(world) == 1000 - 20 - 10 - KLING_PRICE
        assert await world.services.ledger.check() == []


async def test_animate_a_unified_route_image_with_the_unified_video_route() -> None:
    async with SandboxWorld(config=config("veo-3.0-generate-001")) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a red kite", "model": "flux-dev"})
        image = await finished_card(world)
        assert labels(image) == ["Animate", "Use as style"]  # the unified route takes no last frame
        opened = await world.discord.click(image.id, custom_ids(image)[0], member)
        await animate(world, opened, member, "")  # no motion prompt: the image's own
        video = await finished_video(world)
        assert video.attachments[0].data[4:8] == b"ftyp"
        assert link_to(world, image) in video.content
        calls = world.upstream.requests_to("/v1/video/generations")
        call = next(c for c in calls if c.json.get("model") == "veo-3.0-generate-001")
        assert call.json["prompt"] == "a red kite"
        assert call.json["image"].startswith("data:image/png;base64,")
        assert await balance(world) == 1000 - 40 - VEO_PRICE
        assert await world.services.ledger.check() == []


async def test_animate_to_sends_the_picked_image_as_the_last_frame() -> None:
    for model, price in (("kling-v1", KLING_PRICE), ("luma", LUMA_PRICE)):
        async with SandboxWorld(config=config(model)) as world:
            member = world.add_member("alice")
            for prompt in ("dawn", "dusk"):
                await run_slash(world, member, "imagine", {"prompt": prompt, "model": "flux-dev"})
            await finished_card(world, 1)
            first = (await finished_card(world, 0)).id
            start = world.discord.store.message(first)
            pressed = await world.discord.click(first, button_id(start, "Animate to…"), member)
            menu = await private_reply(world, pressed)
            assert menu.ephemeral and "job #1" in menu.content
            [select] = menu.components[0]["components"]
            assert [o["value"] for o in select["options"]] == ["2"]
            await world.restart_bot()  # the menu survives it too
            picked = await world.discord.click(menu.id, select["custom_id"], member, values=["2"])
            await animate(world, picked, member, "day turns to night")
            await finished_video(world)
            if model == "kling-v1":
                [call] = world.upstream.requests_to("/kling/v1/videos/image2video")
                first_frame, last_frame = call.json["image"], call.json["image_tail"]
            else:
                [call] = world.upstream.requests_to("/luma/generations")
                first_frame, last_frame = call.json["image_url"], call.json["image_end_url"]
            assert first_frame != last_frame and last_frame  # two different images
            assert await balance(world) == 1000 - 2 * 40 - price
            assert await world.services.ledger.check() == []


async def test_short_credit_is_refused_privately_and_free() -> None:
    async with SandboxWorld(config=config()) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a fox", "model": "flux-dev"})
        image = await finished_card(world)
        opened = await world.discord.click(image.id, custom_ids(image)[0], member)
        await opened.wait_response(timeout=5)
        dear = VideoModel.model_validate({**VIDEO_MODELS[0], "price_per_second": 400})
        await restart_with(world, "video", models=[dear])
        # The form showed 60: a submit after the price changed starts nothing.
        changed = await private_reply(world, await animate(world, opened, member, "run"))
        assert changed.ephemeral and "from 60 to 2000 credits" in changed.content
        opened = await world.discord.click(image.id, custom_ids(image)[0], member)
        await opened.wait_response(timeout=5)
        assert opened.modal is not None and opened.modal["title"] == "Animate · 2000 credits"
        refusal = await private_reply(world, await animate(world, opened, member, "run"))
        assert refusal.ephemeral and "Not enough credit" in refusal.content
        assert video_cards(world) == []
        assert world.upstream.requests_to("/kling/v1/videos/image2video") == []
        assert await balance(world) == 1000 - 40


async def test_a_gateway_without_video_shows_no_animate_button() -> None:
    async with SandboxWorld(config=config(), upstream_profile="mj-trueai") as world:
        assert await world.services.capabilities.wait_discovered(10)
        member = world.add_member("alice")
        image = await upscale(world, member, "a harbour")
        assert image.attachments and not {"Animate", "Animate to…"} & set(labels(image))
