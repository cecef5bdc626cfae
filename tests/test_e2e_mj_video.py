"""Animate with Midjourney's own video (/mj/submit/video), where the gateway serves it: stock
new-api relays it, trueai-org's proxy has it behind EnableVideo, others offer no such Animate."""

from __future__ import annotations

from typing import Any

import pytest

from bot.animate import animate_price
from bot.config import parse_config
from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    custom_ids,
    is_probe,
    private_reply,
    run_slash,
    wait_until,
)
from tests.test_config import problems
from tests.test_e2e_animate import animate, button_id, finished_video, link_to, upscale
from tests.test_e2e_imagine import FAST_JOBS, balance, finished_card, labels
from tests.test_e2e_video import make_video

MJ_VIDEO_PRICE = 75
IMAGE_COSTS = 20 + 10  # the imagine and its U1
# One motion: Animate opens its form at once (with several, a priced menu comes first:
# tests/test_e2e_animate_options.py).
MJ_VIDEO = {"name": "mj-video", "adapter": "mj_video", "durations": [5], "aspects": ["auto"],
            "image": "required", "modes": ["low"], "price": MJ_VIDEO_PRICE}  # fmt: skip
CONFIG: dict[str, Any] = {
    "chat": FAST_CHAT,
    "jobs": FAST_JOBS,
    "video": {"default_model": "mj-video", "models": [MJ_VIDEO]},
}
SERVING = ["new-api", "mj-trueai"]


def video_submits(world: SandboxWorld) -> list[Any]:
    """The bot's /mj/submit/video calls (capability discovery's probe left out)."""
    return [r for r in world.upstream.requests_to("/mj/submit/video") if not is_probe(r)]


async def second_upscale(world: SandboxWorld, member: int, prompt: str) -> Message:
    await run_slash(world, member, "imagine", {"prompt": prompt})
    grid = await finished_card(world, 2)
    pressed = await world.discord.click(grid.id, custom_ids(grid)[0], member)
    await pressed.wait_response(timeout=5)
    return await finished_card(world, 3)


async def served_world(world: SandboxWorld) -> int:
    assert await world.services.capabilities.wait_discovered(10)
    assert world.services.capabilities.served("midjourney_video")
    return world.add_member("alice")


@pytest.mark.parametrize("profile", SERVING)
async def test_animate_an_upscale_with_midjourney_video_charges_the_price_shown(
    profile: str,
) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        member = await served_world(world)
        image = await upscale(world, member, "a lighthouse --ar 3:2")
        # Midjourney's own Animate buttons are never relayed: only Atelier's, which takes an
        # end frame (the proxy's endImage) too.
        assert [x for x in labels(image) if "Animate" in str(x)] == ["Animate", "Animate to…"]
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        await opened.wait_response(timeout=5)
        assert opened.modal is not None
        assert opened.modal["title"] == f"Animate · {MJ_VIDEO_PRICE} credits"
        assert await balance(world) == 1000 - IMAGE_COSTS  # nothing held before the submit
        sent = await animate(world, opened, member, "the beam sweeps the fog")
        assert f"{MJ_VIDEO_PRICE} credits held" in (await private_reply(world, sent)).content
        video = await finished_video(world)
        [clip] = video.attachments
        assert clip.filename.endswith(".mp4") and clip.data[4:8] == b"ftyp"
        assert link_to(world, image) in video.content
        [call] = video_submits(world)
        assert call.json["prompt"] == "the beam sweeps the fog" and call.json["motion"] == "low"
        assert call.json["image"].startswith("data:image/png;base64,")
        assert "taskId" not in call.json  # the proxy takes one only to extend a video
        assert world.upstream.midjourney.submits["VIDEO"] == 1
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and hold.amount == MJ_VIDEO_PRICE
        assert (hold.command, hold.status) == ("video:mj-video", "settled")
        assert await balance(world) == 1000 - IMAGE_COSTS - MJ_VIDEO_PRICE
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize("profile", SERVING)
async def test_a_failed_midjourney_video_is_refunded_exactly(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        member = await served_world(world)
        image = await upscale(world, member, "a harbour at night")
        world.upstream.midjourney.fail_next = "Job failed: moderation"
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        sent = await animate(world, opened, member, "boats rock")
        assert f"{MJ_VIDEO_PRICE} credits held" in (await private_reply(world, sent)).content
        video = await finished_video(world)
        assert video.content.count("❌") == 1 and "moderation" in video.content
        assert f"{MJ_VIDEO_PRICE} credits refunded" in video.content
        assert not video.attachments
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and (hold.amount, hold.status) == (MJ_VIDEO_PRICE, "refunded")
        assert await balance(world) == 1000 - IMAGE_COSTS
        assert await world.services.ledger.check() == []


async def test_a_proxy_with_video_off_offers_no_midjourney_video_animate() -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile="mj-trueai") as world:
        member = await served_world(world)
        image = await upscale(world, member, "a quiet pond")
        animate_id = button_id(image, "Animate")
        world.upstream.midjourney.video_enabled = False  # the admin turns EnableVideo off
        await world.services.capabilities.refresh()
        assert not world.services.capabilities.served("midjourney_video")
        later = await second_upscale(world, member, "a loud pond")
        assert later.attachments and not [x for x in labels(later) if "Animate" in str(x)]
        # The older card's button now answers privately, for free, and sends nothing.
        pressed = await world.discord.click(image.id, animate_id, member)
        refusal = await private_reply(world, pressed)
        assert refusal.ephemeral and pressed.modal is None
        assert video_submits(world) == []
        assert await balance(world) == 1000 - 2 * IMAGE_COSTS


MOTION_PRICES = [{"mode": "low", "price": 50}, {"mode": "high", "price": 90}]
PRICED_BY_MOTION = {**MJ_VIDEO, "modes": ["low", "high"], "price": None, "prices": MOTION_PRICES}


async def test_video_with_high_motion_sends_it_and_holds_its_price() -> None:
    config = {**CONFIG, "video": {"default_model": "mj-video", "models": [PRICED_BY_MOTION]}}
    async with SandboxWorld(config=config, upstream_profile="new-api") as world:
        member = await served_world(world)
        handle = await make_video(world, member, "mj-video", True, mode="high")
        reply = await private_reply(world, handle)
        assert "90 credits held" in reply.content
        card = await finished_video(world)
        assert card.attachments[0].data[4:8] == b"ftyp"
        [call] = video_submits(world)
        assert call.json["motion"] == "high" and call.json["image"].startswith("data:image/")
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and (hold.amount, hold.status) == (90, "settled")
        assert await balance(world) == 1000 - 90
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize("profile", ["mj-novicezk", "one-api"])
async def test_a_gateway_without_midjourney_video_refuses_it_for_free(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        assert await world.services.capabilities.wait_discovered(10)
        member = world.add_member("alice")
        handle = await make_video(world, member, "mj-video", True)
        refusal = await private_reply(world, handle)
        assert refusal.ephemeral and "does not offer Midjourney video" in refusal.content
        assert video_submits(world) == []
        assert await balance(world) == 1000


def test_a_midjourney_video_model_is_checked_at_start_naming_the_key() -> None:
    def found(**changes: Any) -> str:
        model = {**MJ_VIDEO, **changes}
        video = {"models": [model], "default_model": model["name"]}
        return problems({"video": video})["video.models.0"]

    assert 'set image = "required"' in found(image="optional")
    assert "5 s clips" in found(durations=[5, 10])
    assert "low or high" in found(modes=["low", "turbo"])
    assert "Kling option" in found(audio=True)
    # Without a price of its own it costs pricing.actions.mj_video, not the video default.
    data = {
        "video": {"models": [{**MJ_VIDEO, "price": None}], "default_model": "mj-video"},
        "pricing": {"actions": {"mj_video": 33}},
    }
    secrets = {"discord": {"token": "t"}, "upstream": {"api_key": "k"}}
    unpriced = parse_config(data, {}, overrides=secrets)
    [model] = unpriced.video.models
    assert model.price_key == "mj_video"
    assert animate_price(model, unpriced) == 33


async def test_a_video_task_the_gateway_loses_is_refunded_without_waiting_for_the_deadline() -> (
    None
):
    async with SandboxWorld(config=CONFIG, upstream_profile="new-api") as world:
        member = await served_world(world)
        image = await upscale(world, member, "a lost tower")
        world.upstream.midjourney.never_finish = True
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        sent = await animate(world, opened, member, "")
        await private_reply(world, sent)
        tasks = world.upstream.midjourney.tasks
        await wait_until(lambda: any(t.action == "VIDEO" for t in tasks.values()))
        [lost] = [i for i, t in tasks.items() if t.action == "VIDEO"]
        del tasks[lost]  # new-api answers 400 task_not_found from now on
        video = await finished_video(world)
        assert "❌" in video.content and f"{MJ_VIDEO_PRICE} credits refunded" in video.content
        assert await balance(world) == 1000 - IMAGE_COSTS
        assert await world.services.ledger.check() == []


async def test_a_midjourney_video_running_across_a_restart_is_delivered_and_charged_once() -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile="mj-trueai") as world:
        member = await served_world(world)
        image = await upscale(world, member, "a slow glacier")
        world.upstream.midjourney.durations = (0.05, 0.05, 1.5)
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        sent = await animate(world, opened, member, "ice creaks")
        await private_reply(world, sent)
        await world.restart_bot()  # the job, its task id and its hold are in the database
        video = await finished_video(world)
        assert video.attachments[0].data[4:8] == b"ftyp"
        assert len(video_submits(world)) == 1
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and (hold.amount, hold.status) == (MJ_VIDEO_PRICE, "settled")
        assert await balance(world) == 1000 - IMAGE_COSTS - MJ_VIDEO_PRICE
        assert await world.services.ledger.check() == []
