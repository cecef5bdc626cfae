"""/imagine model: the images route and chat-format media models, configured, not coded."""

from __future__ import annotations

from typing import Any

from bot.sandbox.upstream.media import MediaState
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    ManualClock,
    command_requests,
    ever_showed,
    hold_until_shown,
    on_gateways,
    private_reply,
    restart_with,
    run_slash,
    wait_until,
)
from tests.test_e2e_imagine import FAST_JOBS, balance, cards, finished_card

# A model no code knows about: configuration alone makes it an /imagine choice.
IMAGE_MODELS = [
    {"name": "midjourney", "adapter": "midjourney"},
    {"name": "dall-e-3", "adapter": "images", "price": 30},
    {"name": "painter-x", "adapter": "chat", "price": 15},
    {"name": "flux-dev", "adapter": "unified", "price": 40},
]
UNIFIED = "/v1/video/generations"
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS, "image": {"models": IMAGE_MODELS}}


@on_gateways("images")
async def test_images_route_delivers_the_image_as_a_file(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        member = world.add_member("alice")
        handle = await run_slash(
            world, member, "imagine", {"prompt": "a kite", "model": "dall-e-3"}
        )
        assert "30 credits held" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        assert card.content.endswith("-# dall-e-3 · 30 credits")
        assert card.attachments[0].data.startswith(b"\x89PNG")
        # The other call is capability discovery's probe at start (an empty body, refused free).
        probe, call = world.upstream.requests_to("/v1/images/generations")
        assert probe.json == {} and probe.status == 400
        assert call.json["model"] == "dall-e-3" and call.json["prompt"] == "a kite"
        assert await balance(world) == 970

        world.upstream.media.b64 = True  # gpt-image style answers carry the bytes themselves
        await run_slash(world, member, "imagine", {"prompt": "a boat", "model": "dall-e-3"})
        second = await finished_card(world, 1)
        assert second.attachments[0].data.startswith(b"\x89PNG")
        assert await world.services.ledger.check() == []


async def test_chat_format_model_streams_progress_then_delivers_its_links() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        base = world.upstream.base_url
        one, two = MediaState.url(base, "one.png"), MediaState.url(base, "two.png")
        world.upstream.chat.reply = (
            f"Queued… progress 30%… progress 80%… done!\n![result]({one}) ![alt]({two})"
        )
        world.upstream.chat.pace = 0.08  # about 1.5 s: long enough for a progress edit
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a fox", "model": "painter-x"})
        card = await finished_card(world)
        assert [a.filename for a in card.attachments] == ["atelier-1-1.png", "atelier-1-2.png"]
        assert any("progress" in content for _, content, _ in card.history)
        [call] = world.upstream.requests_to("/v1/chat/completions")
        assert call.json["model"] == "painter-x" and call.json["stream"] is True
        assert await balance(world) == 985


async def test_no_media_fails_with_refund_and_oversize_becomes_a_link() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        world.upstream.chat.reply = "Sorry, your prompt was rejected by the safety system."
        await run_slash(world, member, "imagine", {"prompt": "nope", "model": "painter-x"})
        failed = await finished_card(world)
        assert "rejected by the safety system" in failed.content
        assert "15 credits refunded" in failed.content

        world.upstream.media.file_bytes = 4096
        await run_slash(world, member, "imagine", {"prompt": "big", "model": "dall-e-3"})
        big = await finished_card(world, 1)
        assert big.attachments == [] and "/files/gen-1.png" in big.content
        assert await balance(world) == 970


async def test_unknown_model_and_reference_image_are_refused_free() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "x", "model": "nope"})
        assert "nope" in (await private_reply(world, handle)).content
        handle = await run_slash(
            world,
            member,
            "imagine",
            {"prompt": "x", "model": "dall-e-3"},
            attachments=[("ref.png", b"\x89PNG....", "image/png")],
        )
        assert "reference image" in (await private_reply(world, handle)).content
        assert cards(world) == [] and await balance(world) == 1000


async def test_restart_during_a_one_call_job_refunds_it() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.chat.reply = "working " * 200 + "![r](http://x/never.png)"
        world.upstream.chat.pace = 0.02
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "slow", "model": "painter-x"})
        await wait_until(lambda: bool(world.upstream.requests_to("/v1/chat/completions")))
        await world.restart_bot()
        card = await finished_card(world)
        assert "restarted" in card.content and "15 credits refunded" in card.content
        assert await balance(world) == 1000
        assert await world.services.ledger.open_holds() == []


async def test_chat_format_video_model_from_configuration_alone() -> None:
    videos = [
        {"name": "kling-v1", "adapter": "kling", "durations": [5]},
        {"name": "hailuo-chat", "adapter": "chat", "image": "none", "price": 40},
    ]
    config = {**CONFIG, "video": {"default_model": "kling-v1", "models": videos}}
    async with SandboxWorld(config=config) as world:
        clip = MediaState.url(world.upstream.base_url, "clip.mp4")
        world.upstream.chat.reply = f"Rendering… 100%\n[Download video]({clip})"
        member = world.add_member("alice")
        handle = await run_slash(
            world, member, "video", {"prompt": "waves", "model": "hailuo-chat"}
        )
        assert "40 credits held" in (await private_reply(world, handle)).content

        def done() -> list[Any]:
            return [
                m
                for m in world.discord.messages(world.channel_id)
                if m.content.startswith("🎬") and "-# " in m.content
            ]

        await wait_until(lambda: bool(done()))
        [card] = done()
        assert [a.filename for a in card.attachments] == ["atelier-1-1.mp4"]
        assert card.content.endswith("-# hailuo-chat · 40 credits")
        assert await balance(world) == 960


async def test_unified_route_image_model_polls_shows_progress_and_resumes_after_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.video.clock = clock = ManualClock()
        world.upstream.video.durations = (0.05, 1.2)
        member = world.add_member("alice")
        handle = await run_slash(
            world, member, "imagine", {"prompt": "a lake", "model": "flux-dev"}
        )
        assert "40 credits held" in (await private_reply(world, handle)).content

        def polled() -> bool:
            return any(r.method == "GET" and r.path.startswith(f"{UNIFIED}/") for r in
                       command_requests(world))  # fmt: skip

        await wait_until(polled)
        clock.advance(0.65)  # running, half-way
        await world.restart_bot()  # the task outlives the process and is picked up again
        await hold_until_shown(world.upstream.video, 0.0, lambda: ever_showed(world, "▓", "%"))
        card = await finished_card(world)
        assert any("▓" in content and "%" in content for _, content, _ in card.history)
        [image] = card.attachments
        assert image.filename == "atelier-1-1.png" and image.data.startswith(b"\x89PNG")
        assert card.content.endswith("-# flux-dev · 40 credits")
        [submit] = world.upstream.requests_to(UNIFIED)
        assert submit.json == {"model": "flux-dev", "prompt": "a lake"}
        await world.services.jobs.wait_idle()
        assert len(cards(world)) == 1 and await balance(world) == 960
        assert await world.services.ledger.check() == []


async def test_unified_route_image_model_refunds_failure_and_timeout() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        video = world.upstream.video
        video.durations = (0.01, 0.05)
        video.fail_next = "prompt rejected by the safety filter"
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "x", "model": "flux-dev"})
        failed = await finished_card(world)
        assert "❌ Failed: prompt rejected by the safety filter" in failed.content
        assert "40 credits refunded" in failed.content and not failed.attachments

        await restart_with(world, "jobs", image_deadline=0.6 / 60)  # only this job times out
        video.never_finish = True
        await run_slash(world, member, "imagine", {"prompt": "y", "model": "flux-dev"})
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "40 credits refunded" in timed_out.content
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_a_chat_format_model_past_its_deadline_is_stopped_and_refunded() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "image_deadline": 0.6 / 60}}
    async with SandboxWorld(config=config) as world:
        world.upstream.chat.reply = "still drawing… " * 100 + "![r](http://x/late.png)"
        world.upstream.chat.pace = 0.02  # about 6 s of streaming: far past the deadline
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "slow", "model": "painter-x"})
        card = await finished_card(world)
        assert "Timed out" in card.content and card.content.endswith("-# 15 credits refunded.")
        assert card.attachments == []
        await world.services.jobs.wait_idle()
        job = await world.services.jobs.get(1)
        assert job is not None and (job.status, job.delivery) == ("timed_out", "delivered")
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []
