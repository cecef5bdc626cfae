"""Animate images that came only as bytes (gpt-image style ``b64_json``, no link): the video
starts from the card's own attachment, read fresh from Discord when it is needed, because
Discord's attachment links are signed and expire."""

from __future__ import annotations

import base64
from typing import Any

from bot.sandbox.discord.cdn import LINK_LIFETIME
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, custom_ids, private_reply, run_slash
from tests.test_e2e_animate import animate, button_id, finished_video, link_to, video_cards
from tests.test_e2e_imagine import FAST_JOBS, balance, finished_card, labels

IMAGE_PRICE, LUMA_PRICE = 30, 45
CONFIG: dict[str, Any] = {
    "chat": FAST_CHAT,
    "jobs": FAST_JOBS,
    "image": {"models": [{"name": "gpt-image-1", "adapter": "images", "price": IMAGE_PRICE}]},
    "video": {
        "default_model": "luma",
        "models": [{"name": "luma", "adapter": "luma", "durations": [5], "aspects": ["16:9"],
                    "price": LUMA_PRICE}],
    },
}  # fmt: skip


def frame(data_uri: str) -> bytes:
    """The bytes of a frame the bot sent as a data: URI."""
    head, _, body = data_uri.partition(",")
    assert head == "data:image/png;base64", head
    return base64.b64decode(body)


def card_fetches(world: SandboxWorld, message_id: int) -> list[dict[str, Any]]:
    """The bot's REST reads of one message (GET /channels/…/messages/<id>)."""
    return [
        r
        for r in world.discord.records
        if r["method"] == "GET" and r["path"].endswith(f"/messages/{message_id}")
    ]


async def bytes_only_images(world: SandboxWorld, member: int, *prompts: str) -> list[Any]:
    """Cards of gpt-image answers that carry only base64; the links Discord handed out while
    posting them are already expired, so only a link read later can open them."""
    world.upstream.media.b64 = True
    world.discord.set_attachment_link_lifetime(-1)
    shown = []
    for index, prompt in enumerate(prompts):  # one after the other: job #1 is the first prompt
        await run_slash(world, member, "imagine", {"prompt": prompt, "model": "gpt-image-1"})
        shown.append(await finished_card(world, index))
    world.discord.set_attachment_link_lifetime(LINK_LIFETIME)
    return shown


async def pick_last_frame(world: SandboxWorld, first: Any, member: int) -> Any:
    """Animate to… on ``first``, then the only other image (job #2) in its private menu."""
    pressed = await world.discord.click(first.id, button_id(first, "Animate to…"), member)
    menu = await private_reply(world, pressed)
    [select] = menu.components[0]["components"]
    assert [o["value"] for o in select["options"]] == ["2"]
    return await world.discord.click(menu.id, select["custom_id"], member, values=["2"])


async def test_animate_a_bytes_only_image_from_its_cards_attachment() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        [image] = await bytes_only_images(world, member, "a paper boat")
        [attached] = image.attachments
        assert attached.filename == "atelier-1.png" and attached.data.startswith(b"\x89PNG")
        assert labels(image) == ["Animate", "Animate to…"]
        job = await world.services.jobs.get(1)
        assert job is not None and job.result and job.result["urls"] == []  # no link at all
        await world.restart_bot()  # the button names only the job
        opened = await world.discord.click(image.id, button_id(image, "Animate"), member)
        await opened.wait_response(timeout=5)
        assert opened.modal is not None
        assert opened.modal["title"] == f"Animate · {LUMA_PRICE} credits"
        # As Discord does for a form opened from a button: the submit carries the card.
        sent = await world.discord.submit_modal(
            world.guild_id, world.channel_id, member, opened.modal["custom_id"],
            {"motion": "it drifts downstream"}, message_id=image.id,
        )  # fmt: skip
        assert f"{LUMA_PRICE} credits held" in (await private_reply(world, sent)).content
        video = await finished_video(world)
        [clip] = video.attachments
        assert clip.filename.endswith(".mp4") and clip.data[4:8] == b"ftyp"
        assert link_to(world, image) in video.content
        [call] = world.upstream.requests_to("/luma/generations")
        # The first frame is the card's own attachment, byte for byte; the gateway gets bytes.
        assert frame(call.json["image_url"]) == attached.data
        assert call.json["user_prompt"] == "it drifts downstream"
        assert not card_fetches(world, image.id)  # the submit's own copy of the card sufficed
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert hold is not None and (hold.amount, hold.actual) == (LUMA_PRICE, LUMA_PRICE)
        assert (hold.command, hold.status) == ("video:luma", "settled")
        assert await balance(world) == 1000 - IMAGE_PRICE - LUMA_PRICE
        assert await world.services.ledger.check() == []


async def test_animate_to_between_two_bytes_only_images_reads_both_cards() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        first, last = await bytes_only_images(world, member, "dawn", "dusk")
        picked = await pick_last_frame(world, first, member)
        sent = await animate(world, picked, member, "")
        await finished_video(world)
        [call] = world.upstream.requests_to("/luma/generations")
        assert frame(call.json["image_url"]) == first.attachments[0].data
        assert frame(call.json["image_end_url"]) == last.attachments[0].data
        # Picked from a private menu: both cards were fetched, after the acknowledgement.
        [ack] = [
            r for r in world.discord.records if r["path"].startswith(f"/interactions/{sent.id}/")
        ]
        for card in (first, last):
            assert [r["t"] > ack["t"] for r in card_fetches(world, card.id)] == [True]
        assert call.json["user_prompt"] == "dawn"  # no motion prompt: the image's own
        assert await balance(world) == 1000 - 2 * IMAGE_PRICE - LUMA_PRICE
        assert await world.services.ledger.check() == []


async def test_a_bytes_only_image_whose_card_is_gone_is_refused_for_free() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        first, last = await bytes_only_images(world, member, "dawn", "dusk")
        picked = await pick_last_frame(world, first, member)
        world.discord.delete_message(last.id)  # the last frame's card, and its attachment
        refusal = await private_reply(world, await animate(world, picked, member, "run"))
        assert refusal.ephemeral and "cannot be animated" in refusal.content
        assert "Nothing was charged" in refusal.content
        assert video_cards(world) == [] and world.upstream.requests_to("/luma/generations") == []
        assert await world.services.ledger.get_hold(f"job:{picked.id}") is None
        assert await balance(world) == 1000 - 2 * IMAGE_PRICE
        assert custom_ids(first)  # the first card still offers its buttons
