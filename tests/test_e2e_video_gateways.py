"""/video against what stock gateways really answer (upstream-api.md §7): a task the gateway
forgot, a Luma ``completed`` before its link, and Kling behind the unified route."""

from __future__ import annotations

import base64

import pytest

from bot.sandbox.world import SandboxWorld
from tests.helpers import wait_until
from tests.test_e2e_video import CONFIG, PNG, VEO, balance, finished_card, make_video

# The deadline is far away: a lost task must be refunded long before it.
SLOW_DEADLINE = {**CONFIG, "jobs": {**CONFIG["jobs"], "video_deadline": 10.0}}


@pytest.mark.parametrize("style", ["task_not_exist", "404"])
@pytest.mark.parametrize(
    ("model", "poll_path"),
    [
        pytest.param(VEO, "/v1/video/generations/", id="unified"),
        pytest.param("kling-v1", "/kling/v1/videos/text2video/", id="kling"),
        pytest.param("sora-2", "/v1/videos/", id="sora"),
    ],
)
async def test_a_task_the_gateway_forgot_is_refunded_within_two_polls(
    style: str, model: str, poll_path: str
) -> None:
    async with SandboxWorld(config=SLOW_DEADLINE) as world:
        video = world.upstream.video
        video.unknown_task_style = style  # type: ignore[assignment]
        video.never_finish = True
        member = world.add_member("alice")
        handle = await make_video(world, member, model, False)
        await wait_until(lambda: bool(video.tasks))
        [task_id] = list(video.tasks)
        video.forget(task_id)
        forgotten_at = len(world.upstream.records)
        card = await finished_card(world)
        assert "the service no longer knows this job" in card.content
        assert card.content.endswith("-# 100 credits refunded.") and not card.attachments
        polls = [
            r
            for r in world.upstream.records[forgotten_at:]
            if r.method == "GET" and r.path.startswith(poll_path) and task_id in r.path
        ]
        expected = 400 if style == "task_not_exist" else 404
        assert [r.status for r in polls] == [expected, expected]
        assert await balance(world) == 1000  # the 100 held came back, exactly
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and hold.status == "refunded"
        assert await world.services.ledger.check() == []


async def test_a_forgotten_task_is_told_in_the_members_language() -> None:
    async with SandboxWorld(config=SLOW_DEADLINE) as world:
        video = world.upstream.video
        video.unknown_task_style = "task_not_exist"
        video.never_finish = True
        member = world.add_member("lin")
        await make_video(world, member, VEO, False, locale="zh-CN")
        await wait_until(lambda: bool(video.tasks))
        video.forget(next(iter(video.tasks)))
        card = await finished_card(world)
        assert "服务方已不记得这个任务" in card.content
        assert await balance(world) == 1000


async def test_a_luma_video_completed_before_its_link_is_delivered() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.video.luma_completed_without_link = 2
        member = world.add_member("alice")
        await make_video(world, member, "luma", False)
        card = await finished_card(world)
        [video] = card.attachments
        assert video.data[4:8] == b"ftyp"
        [task] = world.upstream.video.tasks.values()
        assert task.linkless_polls == 2  # asked twice while the link was missing
        assert await balance(world) == 900
        assert await world.services.ledger.check() == []


async def test_a_luma_video_that_never_gets_its_link_is_refunded_before_the_deadline() -> None:
    async with SandboxWorld(config=SLOW_DEADLINE) as world:
        world.upstream.video.luma_completed_without_link = 10**6
        member = world.add_member("alice")
        await make_video(world, member, "luma", False)
        card = await finished_card(world)
        assert "finished without a video" in card.content
        assert card.content.endswith("-# 100 credits refunded.") and not card.attachments
        [task] = world.upstream.video.tasks.values()
        assert task.linkless_polls == 5  # the bound: five answers without a link
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_kling_on_the_unified_route_gets_bare_base64() -> None:
    models = [*CONFIG["video"]["models"]]
    models.append({"name": "kling-v2-master", "adapter": "unified", "image": "required"})
    config = {**CONFIG, "video": {"models": models}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        await make_video(world, member, "kling-v2-master", True)
        card = await finished_card(world)
        assert len(card.attachments) == 1
        [submit] = world.upstream.requests_to("/v1/video/generations")
        assert submit.json["image"] == base64.b64encode(PNG).decode()
        assert await balance(world) == 900
