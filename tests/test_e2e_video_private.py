"""/video results whose link opens only with the bot's key (Sora's content route, a gateway
proxy URL): the file is the member's only way to the video, so an outage is retried and a video
that cannot reach the member is refunded, never charged for nothing."""

from __future__ import annotations

import pytest

from bot.sandbox.world import SandboxWorld
from tests.test_e2e_video import (
    CONFIG,
    VEO,
    answer_in,
    balance,
    cards,
    finished_card,
    make_video,
)

PRIVATE = [
    pytest.param("sora-2", {}, id="sora-content-route"),
    pytest.param(VEO, {"unified_form": "proxy"}, id="unified-proxy-url"),
]
CONTENT = r"^/v1/videos/[^/]+/content$"
CARD_EDIT = r"^/channels/\d+/messages/\d+$"


@pytest.mark.parametrize(("model", "knobs"), PRIVATE)
async def test_a_short_gateway_outage_delays_the_video_but_delivers_it_once(
    model: str, knobs: dict[str, str]
) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        answer_in(world, knobs)
        world.upstream.inject_error("bad_gateway", path_regex=CONTENT, times=1)
        member = world.add_member("alice")
        handle = await make_video(world, member, model, False)
        card = await finished_card(world)
        assert any("did not hand it over just now" in c for _, c, _ in card.history)
        [video] = card.attachments
        assert video.data[4:8] == b"ftyp"
        downloads = [r for r in world.upstream.records if r.path.endswith("/content")]
        assert [r.status for r in downloads] == [502, 200]
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and hold.status == "settled"
        await world.services.jobs.wait_idle()
        assert len(cards(world)) == 1 and await balance(world) == 900
        assert await world.services.ledger.check() == []


async def test_a_video_the_gateway_no_longer_has_is_refunded() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.inject(
            CONTENT, 404, {"error": {"message": "task_not_exist", "code": "task_not_exist"}}, 1
        )
        member = world.add_member("alice")
        await make_video(world, member, "sora-2", False)
        card = await finished_card(world)
        assert "❌ The video was made, but the service no longer has it" in card.content
        assert card.content.endswith("-# 100 credits refunded.") and not card.attachments
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(("model", "knobs"), PRIVATE)
async def test_a_channel_without_attach_permission_refunds_a_private_video(
    model: str, knobs: dict[str, str]
) -> None:
    config = {**CONFIG, "jobs": {**CONFIG["jobs"], "progress_interval": 100.0}}
    async with SandboxWorld(config=config) as world:
        answer_in(world, knobs)
        world.upstream.video.durations = (0.0, 0.0)  # done at the first poll: no progress edits
        world.discord.inject("PATCH", CARD_EDIT, status=403, code=50013, times=1)
        member = world.add_member("alice")
        handle = await make_video(world, member, model, False)
        card = await finished_card(world)
        assert "❌ The video was made, but I may not attach files" in card.content
        assert card.content.endswith("-# 100 credits refunded.") and not card.attachments
        assert world.upstream.base_url not in card.content
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and hold.status == "refunded"
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []
