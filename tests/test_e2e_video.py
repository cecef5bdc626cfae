"""/video end to end through both sandboxes: every provider and answer form, money, restarts."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bot.config import VideoConfig
from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.profiles import OFFERS
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    ManualClock,
    command_requests,
    ever_showed,
    hold_until_shown,
    private_reply,
    restart_with,
    run_slash,
    wait_until,
)

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
VEO = "veo-3.0-generate-001"
STILL = {"name": "still-life", "adapter": "unified", "durations": [6], "image": "none"}
PER_SECOND = {
    "name": "sora-2-pro", "adapter": "sora", "durations": [4, 8], "aspects": ["9:16"],
    "price": 20, "price_per_second": 10,
}  # fmt: skip
MODELS = [m.model_dump() for m in VideoConfig().models] + [STILL, PER_SECOND]
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS, "video": {"models": MODELS}}
PNG = sandbox_png("first-frame", grid=False)
FRAME = [("frame.png", PNG, "image/png")]

# (model, sandbox knobs, needs an image, the path its poller asks): every provider in every
# answer form the sandbox can send, so each form is shown delivered, refunded and resumed.
KLING, LUMA, UNIFIED = (
    "/kling/v1/videos/text2video/",
    "/luma/generations/",
    "/v1/video/generations/",
)
FORMS = [
    pytest.param("kling-v1", {"kling_form": "native"}, False, KLING, id="kling-native"),
    pytest.param("kling-v1", {"kling_form": "newapi"}, False, KLING, id="kling-newapi"),
    pytest.param("luma", {"luma_form": "object"}, False, LUMA, id="luma-object"),
    pytest.param("luma", {"luma_form": "array"}, False, LUMA, id="luma-array"),
    pytest.param("gen3a_turbo", {}, True, "/runwayml/v1/tasks/", id="runway"),
    pytest.param("sora-2", {}, False, "/v1/videos/", id="sora"),
    *(
        pytest.param(VEO, {"unified_form": form}, False, UNIFIED, id=f"unified-{form}")
        for form in ("result_url", "fail_reason", "proxy", "raw", "veo")
    ),
]
FORM_ARGS = ("model", "knobs", "image", "poll_path")
# Every form on the union gateway, and one happy path per provider on each other gateway
# profile that serves it (stock new-api: Kling in its own form, Sora, the unified route).
ON_GATEWAYS = [
    *(pytest.param(*form.values, "union", id=form.id) for form in FORMS),
    *(
        pytest.param(model, knobs, False, path, profile, id=f"{name}@{profile}")
        for profile, offers in OFFERS.items()
        if profile != "union"
        for name, model, knobs, path in (
            ("kling", "kling-v1", {"kling_form": "newapi"}, KLING),
            ("sora", "sora-2", {}, "/v1/videos/"),
            ("unified", VEO, {"unified_form": "proxy"}, UNIFIED),
        )
        if name in offers
    ),
]


def cards(world: SandboxWorld) -> list[Message]:
    """The job cards members see in the channel (not the private acknowledgements)."""
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if not m.ephemeral and m.content.startswith("🎬")
    ]


async def finished_card(world: SandboxWorld, index: int = 0) -> Message:
    def done() -> bool:
        shown = cards(world)
        return len(shown) > index and "-# " in shown[index].content

    await wait_until(done, timeout=15)
    return cards(world)[index]


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


async def make_video(
    world: SandboxWorld,
    member: int,
    model: str,
    image: bool,
    locale: str = "en-US",
    **options: Any,
) -> InteractionHandle:
    return await run_slash(
        world,
        member,
        "video",
        {"prompt": "a cat surfing", "model": model, **options},
        attachments=FRAME if image else None,
        locale=locale,
    )


def answer_in(world: SandboxWorld, knobs: dict[str, str]) -> None:
    """Make the sandbox answer in one of its forms (``FORMS``)."""
    for knob, value in knobs.items():
        setattr(world.upstream.video, knob, value)


def keyless_downloads(world: SandboxWorld) -> bool:
    """No result download from the file host carried the API key."""
    return all(not r.has_auth for r in world.upstream.records if r.path.startswith("/video/"))


@pytest.mark.parametrize((*FORM_ARGS, "profile"), ON_GATEWAYS)
async def test_video_is_delivered_once_and_charged_once(
    model: str, knobs: dict[str, str], image: bool, poll_path: str, profile: str
) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        answer_in(world, knobs)
        world.upstream.video.clock = ManualClock()
        world.upstream.video.durations = (0.05, 0.6)
        member = world.add_member("alice")
        handle = await make_video(world, member, model, image)
        ack = await private_reply(world, handle)
        assert ack.ephemeral and "job #1 (100 credits held)" in ack.content
        await hold_until_shown(world.upstream.video, 0.35, lambda: ever_showed(world, "▓", "%"))
        card = await finished_card(world)
        assert any("▓" in content and "%" in content for _, content, _ in card.history)
        [video] = card.attachments
        assert (video.filename, video.content_type) == ("atelier-1.mp4", "video/mp4")
        assert video.data[4:8] == b"ftyp"
        seconds = VideoConfig().model(model).durations[0]  # type: ignore[union-attr]
        assert card.content.startswith(f"🎬 **{model} · a cat surfing** — <@{member}>")
        assert card.content.endswith(f"-# {model} · {seconds} s · 16:9 · 100 credits")
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and (hold.command, hold.status) == (f"video:{model}", "settled")
        assert keyless_downloads(world)
        if model == "sora-2" or knobs.get("unified_form") == "proxy":
            # The video comes from the gateway's content route, with the key.
            [content] = [r for r in world.upstream.records if r.path.endswith("/content")]
            assert content.authorized and content.status == 200

        await world.services.jobs.wait_idle()  # the delivery is recorded, not only shown
        edits = len(card.history)
        await world.restart_bot()  # nothing is shown or charged twice after a restart
        await world.services.jobs.wait_idle()
        assert [len(c.history) for c in cards(world)] == [edits]
        assert await balance(world) == 900
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(FORM_ARGS, FORMS)
async def test_failure_and_timeout_refund_in_full(
    model: str, knobs: dict[str, str], image: bool, poll_path: str
) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        answer_in(world, knobs)
        video = world.upstream.video
        member = world.add_member("alice")
        video.durations = (0.01, 0.05)  # fails long before the normal deadline, however slow
        video.fail_next = "Video failed: content moderation"
        await make_video(world, member, model, image)
        failed = await finished_card(world)
        assert "❌ Failed: Video failed: content moderation" in failed.content
        assert failed.content.endswith("-# 100 credits refunded.") and not failed.attachments

        await restart_with(world, "jobs", video_deadline=0.6 / 60)
        video.never_finish = True
        await make_video(world, member, model, image)
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "100 credits refunded" in timed_out.content
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(FORM_ARGS, FORMS)
async def test_restart_mid_job_resumes_and_delivers_once(
    model: str, knobs: dict[str, str], image: bool, poll_path: str
) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        answer_in(world, knobs)
        world.upstream.video.durations = (0.05, 1.0)
        member = world.add_member("alice")
        await make_video(world, member, model, image)

        def polled() -> bool:
            return any(
                r.method == "GET" and r.path.startswith(poll_path) for r in command_requests(world)
            )

        await wait_until(polled)
        await world.restart_bot()  # the process goes away while the video is being made
        card = await finished_card(world)
        assert len(card.attachments) == 1
        await world.services.jobs.wait_idle()
        assert len(cards(world)) == 1
        assert sum(world.upstream.video.submits.values()) == 1
        assert await balance(world) == 900
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(
    ("model", "knobs", "public"),
    [
        pytest.param("kling-v1", {}, True, id="cdn-link"),
        pytest.param("sora-2", {}, False, id="sora-content-route"),
        pytest.param(VEO, {"unified_form": "proxy"}, False, id="unified-proxy-url"),
    ],
)
async def test_oversized_video_becomes_a_link_or_is_refunded_when_the_link_needs_the_key(
    model: str, knobs: dict[str, str], public: bool
) -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        answer_in(world, knobs)
        world.upstream.video.video_bytes = 4096
        member = world.add_member("alice")
        handle = await make_video(world, member, model, False)
        card = await finished_card(world)
        assert card.attachments == []
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        if public:
            assert "too large to upload here: http://localhost:" in card.content
            assert card.content.rstrip().endswith(".mp4")
            assert hold is not None and hold.status == "settled"
            assert await balance(world) == 900  # the member has the video: it is paid for
        else:
            # Nothing the member can open: told why, and not charged for it.
            assert "❌ The video was made, but it is larger than" in card.content
            assert "upload limit (2 KB)" in card.content and "link to it is private" in card.content
            assert card.content.endswith("-# 100 credits refunded.")
            assert world.upstream.base_url not in card.content and "/content" not in card.content
            assert hold is not None and (hold.status, hold.actual) == ("refunded", 0)
            assert await balance(world) == 1000
        await world.services.jobs.wait_idle()
        edits = len(card.history)
        await world.restart_bot()  # a replayed delivery neither refunds nor shows it again
        await world.services.jobs.wait_idle()
        assert [len(c.history) for c in cards(world)] == [edits]
        assert await balance(world) == (900 if public else 1000)
        assert await world.services.ledger.check() == []


async def test_options_the_model_does_not_take_cost_nothing_and_say_why() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        refusals = [
            ({"model": "kling-v1", "duration": 7}, None, "makes videos of 5, 10 seconds, not 7"),
            ({"model": "gen3a_turbo", "aspect": "1:1"}, FRAME, "supports the aspect ratios 16:9"),
            ({"model": "gen3a_turbo"}, None, "makes videos from an image: attach one"),
            ({"model": "still-life"}, FRAME, "takes no image"),
            ({"model": "luma"}, [("notes.txt", b"hi", "text/plain")], "`notes.txt` is not an"),
            ({"model": "nope"}, None, "There is no model called `nope`"),
        ]  # fmt: skip
        for options, files, reason in refusals:
            handle = await run_slash(
                world, member, "video", {"prompt": "x", **options}, attachments=files
            )
            reply = await private_reply(world, handle)
            assert reply.ephemeral and reason in reply.content, reply.content
            assert await world.services.ledger.get_hold(f"job:{handle.id}") is None
        assert cards(world) == []
        assert not [r for r in command_requests(world) if "video" in r.path or "kling" in r.path]
        assert await balance(world) == 1000


async def test_a_chinese_speaking_member_reads_chinese() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("li", locale="zh-CN")
        refused = await make_video(world, member, "kling-v1", False, duration=7, locale="zh-CN")
        text = (await private_reply(world, refused)).content
        assert text == "`kling-v1` 只能生成 5, 10 秒的视频，不支持 7 秒。未扣除任何积分。"

        handle = await make_video(world, member, "kling-v1", False, locale="zh-CN")
        assert "已开始：任务 #1（已冻结 100 积分）" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        assert card.content.endswith("-# kling-v1 · 5 秒 · 16:9 · 100 积分")

        world.upstream.video.fail_next = "审核未通过"
        await make_video(world, member, "kling-v1", False, locale="zh-CN")
        failed = await finished_card(world, 1)
        assert "❌ 失败：审核未通过" in failed.content and "已退还 100 积分。" in failed.content


async def test_image_to_video_sends_the_frame_and_longer_videos_cost_more() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await make_video(world, member, "kling-v1", True, duration=10)
        await finished_card(world)
        [call] = world.upstream.requests_to("/kling/v1/videos/image2video")
        assert call.json["image"] == base64.b64encode(PNG).decode()
        assert call.json["duration"] == "10"

        handle = await make_video(world, member, "sora-2-pro", True, duration=4)
        assert "(60 credits held)" in (await private_reply(world, handle)).content  # 20 + 4 x 10
        card = await finished_card(world, 1)
        assert card.content.endswith("-# sora-2-pro · 4 s · 9:16 · 60 credits")
        [task] = [t for t in world.upstream.video.tasks.values() if t.api == "sora"]
        assert task.request["size"] == "720x1280" and task.request["seconds"] == "4"
        assert task.request["input_reference"]["size"] == len(PNG)
        assert await balance(world) == 1000 - 100 - 60


async def test_a_refused_submit_leaves_no_card_and_costs_nothing() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        world.upstream.inject_error("insufficient_balance", path_regex="^/luma/generations$")
        handle = await make_video(world, member, "luma", False)
        reply = await private_reply(world, handle)
        assert "run out of funds" in reply.content
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and hold.status == "refunded"
        assert cards(world) == []
        assert await balance(world) == 1000


async def test_autocomplete_offers_what_the_chosen_model_takes() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")

        async def choices(focused: str, **options: Any) -> list[Any]:
            handle = await world.discord.autocomplete(
                world.guild_id, world.channel_id, member, "video", options, focused=focused
            )
            await handle.wait_response()
            return [c["value"] for c in handle.choices or []]

        assert await choices("duration", model="sora-2") == [4, 8, 12]
        assert await choices("duration") == [5, 10]  # the default model, kling-v1
        assert await choices("aspect", model="gen3a_turbo") == ["16:9", "9:16"]
        assert await choices("model", model="ve") == [VEO]
