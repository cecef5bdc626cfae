"""Where a gateway profile lacks a command family: a private answer naming it, nothing charged
(issue 13, upstream-api.md §7). The happy paths run on every profile that offers the family in
the family's own test file (``tests.helpers.on_gateways``).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.upstream.profiles import OFFERS
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    command_requests,
    custom_ids,
    private_reply,
    run_slash,
)
from tests.test_e2e_imagine import finished_card as image_card

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
IMAGE_MODELS = [
    {"name": "midjourney", "adapter": "midjourney"},
    {"name": "dall-e-3", "adapter": "images", "price": 30},
]
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS, "image": {"models": IMAGE_MODELS}}
START = 1000  # credit.starting_balance


def lacking(*families: str) -> list[Any]:
    return [
        pytest.param(profile, family, id=f"{family}@{profile}")
        for profile, offers in OFFERS.items()
        for family in families
        if family not in offers
    ]


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


def world_on(profile: str) -> SandboxWorld:
    return SandboxWorld(config=CONFIG, upstream_profile=profile)


REFUSALS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    # family: (command, options, en-US words, zh-CN words)
    "luma": ("video", {"prompt": "waves", "model": "luma"}, "does not offer Luma", "Luma 视频"),
    "runway": ("video", {"prompt": "waves", "model": "gen3a_turbo"}, "does not offer Runway",
               "Runway 视频"),
    "kling": ("video", {"prompt": "waves", "model": "kling-v1"}, "does not offer Kling", "可灵"),
    "midjourney": ("imagine", {"prompt": "a fox"}, "does not offer Midjourney", "Midjourney"),
    "suno": ("song", {"prompt": "cats"}, "does not offer Suno", "Suno"),
    "images": ("imagine", {"prompt": "a fox", "model": "dall-e-3"},
               "does not offer image generation", "图像生成"),
    "chat": ("gpt", {"prompt": "hello"}, "does not offer chat models", "对话模型"),
}  # fmt: skip


@pytest.mark.parametrize(("profile", "family"), lacking(*REFUSALS))
async def test_a_family_the_gateway_lacks_is_refused_privately_and_free(
    profile: str, family: str
) -> None:
    command, options, english, chinese = REFUSALS[family]
    async with world_on(profile) as world:
        member = world.add_member("alice")
        before = len(command_requests(world))
        for locale, words in (("en-US", english), ("zh-CN", chinese)):
            handle = await run_slash(world, member, command, options, locale=locale)
            reply = await private_reply(world, handle)
            assert reply.ephemeral and words in reply.content, reply.content
        assert len(command_requests(world)) == before  # nothing reached the gateway
        assert await balance(world) == START  # to the credit
        assert await world.services.ledger.check() == []


async def test_luma_on_stock_new_api_is_refused_privately_and_charged_nothing() -> None:
    """Stock new-api has no /luma route: it answers its console page (200 text/html)."""
    async with world_on("new-api") as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "video", {"prompt": "waves", "model": "luma"})
        reply = await private_reply(world, handle)
        assert reply.ephemeral
        assert "This server's AI gateway does not offer Luma videos" in reply.content
        assert not [r for r in world.upstream.records if r.path == "/luma/generations"]
        assert await balance(world) == START
        assert await world.services.ledger.check() == []


async def test_video_model_choices_leave_out_what_the_gateway_lacks() -> None:
    async with world_on("new-api") as world:
        member = world.add_member("alice")
        handle = await world.discord.autocomplete(
            world.guild_id, world.channel_id, member, "video", {"model": ""}, focused="model"
        )
        await handle.wait_response()
        offered = {c["value"] for c in handle.choices or []}
        assert offered == {"kling-v1", "sora-2", "veo-3.0-generate-001"}


async def test_a_pin_in_config_wins_over_discovery() -> None:
    pins = {"capabilities": {"not_served": ["sora"], "served": ["luma"]}}
    world = SandboxWorld(config={**CONFIG, "upstream": pins}, upstream_profile="new-api")
    async with world:
        capabilities = world.services.capabilities
        assert not capabilities.served("sora") and capabilities.served("luma")
        assert capabilities.served("kling") and not capabilities.served("runway")
        member = world.add_member("alice")
        handle = await run_slash(world, member, "video", {"prompt": "x", "model": "sora-2"})
        assert "does not offer Sora" in (await private_reply(world, handle)).content
        assert await balance(world) == START


async def test_a_button_the_gateway_does_not_relay_is_refused_privately_and_free() -> None:
    pins = {"capabilities": {"not_served": ["midjourney_actions"]}}
    async with SandboxWorld(config={**CONFIG, "upstream": pins}) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"})
        grid = await image_card(world)
        assert await balance(world) == START - 20
        handle = await world.discord.click(grid.id, custom_ids(grid)[1], member)
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "does not relay Midjourney buttons" in reply.content
        assert not world.upstream.requests_to("/mj/submit/action")
        assert await balance(world) == START - 20


async def test_a_route_the_gateway_lacks_despite_a_pin_is_told_plainly_and_refunded() -> None:
    """An operator pinned Luma as served on stock new-api: the submit meets the console page."""
    pins = {"capabilities": {"served": ["luma"]}}
    world = SandboxWorld(config={**CONFIG, "upstream": pins}, upstream_profile="new-api")
    async with world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "video", {"prompt": "waves", "model": "luma"})
        reply = await private_reply(world, handle)
        assert "answered with its web page" in reply.content, reply.content
        [submit] = world.upstream.requests_to("/luma/generations")
        assert submit.status == 200  # the console page, as stock new-api answers
        await world.services.jobs.wait_idle()
        assert await balance(world) == START
        assert await world.services.ledger.check() == []
