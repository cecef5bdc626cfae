"""/swapface end to end (issue 16): InsightFace through the Midjourney proxy, a job like
/imagine: delivered and charged exactly its price, refunded exactly when it fails, and a bad
attachment refused privately before anything is held."""

from __future__ import annotations

from typing import Any

import pytest

from bot.providers.midjourney import MAX_REFERENCE_BYTES
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.world import SandboxWorld
from bot.upstream.midjourney import data_uri
from tests.helpers import command_requests, on_gateways, private_reply, run_slash
from tests.test_e2e_imagine import CONFIG, balance, finished_card

FACE, PHOTO = sandbox_png("face", False), sandbox_png("photo", True)
IMAGES = [("face.png", FACE, "image/png"), ("photo.png", PHOTO, "image/png")]
DIRECT = {"upstream": {"mj_auth": "mj-api-secret"}}  # a proxy reached directly wants its secret


def world_on(profile: str, **config: Any) -> SandboxWorld:
    settings = {**CONFIG, **(DIRECT if profile.startswith("mj-") else {}), **config}
    return SandboxWorld(config=settings, upstream_profile=profile)


def swaps(world: SandboxWorld) -> list[Any]:
    return [r for r in command_requests(world) if r.path.endswith("/mj/insight-face/swap")]


@on_gateways("midjourney_swap_face")
async def test_swapface_is_delivered_and_charged_its_price_exactly(profile: str) -> None:
    async with world_on(profile, pricing={"actions": {"mj_swap_face": 12}}) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "swapface", attachments=IMAGES)
        assert "(12 credits held)" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        assert card.content.startswith(f"🎨 **face.png → photo.png** — <@{member}>")
        assert card.content.endswith("-# Midjourney · swap_face · 12 credits")
        [image] = card.attachments
        assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
        assert card.components == []  # no Midjourney message: no buttons, and no seed
        [call] = swaps(world)
        assert call.json == {"sourceBase64": data_uri(FACE), "targetBase64": data_uri(PHOTO)}
        await world.services.jobs.wait_idle()
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None
        assert (hold.command, hold.amount, hold.actual, hold.status) == (
            "mj_swap_face", 12, 12, "settled"
        )  # fmt: skip
        assert await balance(world) == 1000 - 12
        assert await world.services.ledger.check() == []


async def test_a_swap_that_fails_upstream_is_refunded_exactly() -> None:
    async with world_on("union") as world:
        world.upstream.midjourney.fail_next = "no face detected in the source image"
        member = world.add_member("alice", locale="zh-CN")
        handle = await run_slash(world, member, "swapface", attachments=IMAGES, locale="zh-CN")
        await private_reply(world, handle)
        card = await finished_card(world)
        assert "❌" in card.content and "no face detected in the source image" in card.content
        assert card.content.endswith("已退还 10 积分。"), card.content
        await world.services.jobs.wait_idle()
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None
        assert (hold.amount, hold.actual, hold.status) == (10, 0, "refunded")
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_a_proxy_without_insightface_set_up_refuses_and_nothing_is_charged() -> None:
    """trueai-org's proxy has the route but answers "服务不支持" until Replicate is set up."""
    async with world_on("mj-trueai") as world:
        world.upstream.midjourney.face_swap = False
        member = world.add_member("alice")
        handle = await run_slash(world, member, "swapface", attachments=IMAGES)
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "The service refused the request: 服务不支持" in reply.content
        await world.services.jobs.wait_idle()
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


TEXT = ("notes.txt", b"not a picture", "text/plain")
HUGE = ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(MAX_REFERENCE_BYTES), "image/png")


@pytest.mark.parametrize(
    ("files", "locale", "said"),
    [
        ([TEXT, IMAGES[1]], "en-US", "`notes.txt` is not an image. Use PNG, JPEG, GIF or WebP."),
        ([IMAGES[0], HUGE], "en-US", "`huge.png` is too large for a face swap; the limit is"),
        ([IMAGES[0], HUGE], "zh-TW", "`huge.png` 太大，無法換臉"),
    ],
    ids=["not-an-image", "too-large", "too-large-zh-TW"],
)
async def test_a_bad_attachment_is_refused_privately_and_free(
    files: list[tuple[str, bytes, str]], locale: str, said: str
) -> None:
    async with world_on("union") as world:
        # A boosted server takes larger uploads than the proxy takes images.
        world.discord.set_attachment_size_limit(50 * 1024 * 1024)
        member = world.add_member("alice", locale=locale)
        handle = await run_slash(world, member, "swapface", attachments=files, locale=locale)
        reply = await private_reply(world, handle)
        assert reply.ephemeral and said in reply.content, reply.content
        assert not swaps(world) and await world.services.jobs.get(1) is None
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(
    ("profile", "said"),
    [
        ("one-api", "does not offer Midjourney,"),  # no /mj at all
        ("mj-novicezk", "does not offer face swap (/swapface)"),  # Midjourney, no InsightFace
    ],
)
async def test_swapface_is_refused_for_free_where_the_gateway_lacks_it(
    profile: str, said: str
) -> None:
    async with world_on(profile) as world:
        await world.services.capabilities.refresh()
        member = world.add_member("alice")
        handle = await run_slash(world, member, "swapface", attachments=IMAGES)
        reply = await private_reply(world, handle)
        assert reply.ephemeral and said in reply.content, reply.content
        assert not swaps(world)
        assert await balance(world) == 1000


async def test_an_operator_pin_turns_swapface_off() -> None:
    pins = {"upstream": {"capabilities": {"not_served": ["midjourney_swap_face"]}}}
    async with world_on("union", **pins) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "swapface", attachments=IMAGES)
        assert "does not offer face swap" in (await private_reply(world, handle)).content
        assert not swaps(world) and await balance(world) == 1000
