"""Video adapters against the sandbox gateway (upstream-api.md §4, §6), every answer variant."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import VideoConfig, VideoModel
from bot.errors import (
    SubmitRejected,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
)
from bot.providers.video import NO_IMAGE, NO_VIDEO, task_state
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.png import sandbox_png
from bot.upstream.client import UpstreamClient
from bot.upstream.video import (
    VideoRequest,
    VideoTask,
    kling,
    luma,
    mj_video,
    runway,
    sora,
    unified,
    video_adapters,
)
from bot.upstream.video.common import progress_of, readable_detail
from tests.helpers import ManualClock

KEY = "sk-VideoTestKey0123456789abcdefXYZ"
PNG = sandbox_png("first-frame", grid=False)
MODELS = {
    "kling": "kling-v1",
    "luma": "luma",
    "runway": "gen3a_turbo",
    "sora": "sora-2",
    "unified": "veo-3.0-generate-001",
}
# (adapter, sandbox knob, value): every answer form each API is known to send.
VARIANTS = [
    ("kling", "kling_form", "native"),
    ("kling", "kling_form", "newapi"),
    ("luma", "luma_form", "object"),
    ("luma", "luma_form", "array"),
    ("runway", None, None),
    ("sora", None, None),
    ("unified", "unified_form", "result_url"),
    ("unified", "unified_form", "proxy"),
    ("unified", "unified_form", "fail_reason"),
    ("unified", "unified_form", "raw"),
    ("unified", "unified_form", "veo"),
]
VARIANT_IDS = [f"{a}-{v}" if v else a for a, _, v in VARIANTS]


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        sb.video.clock = ManualClock()
        sb.video.durations = (1.0, 3.0)
        yield sb


@pytest.fixture
async def client(sandbox: UpstreamSandbox) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(
            session, sandbox.base_url, KEY, connect_timeout=1, read_timeout=2, total_timeout=5
        )


def request_for(adapter: str, **kw: Any) -> VideoRequest:
    image = PNG if adapter == "runway" else None
    values: dict[str, Any] = {"duration": 5, "aspect": "16:9", "image": image, **kw}
    if adapter == "sora" and values["duration"] == 5:
        values["duration"] = 4
    return VideoRequest(model=MODELS[adapter], prompt="a cat surfing", **values)


def advance(sandbox: UpstreamSandbox, seconds: float) -> None:
    sandbox.video.clock.now += seconds  # type: ignore[attr-defined]


@pytest.mark.parametrize(("adapter", "knob", "value"), VARIANTS, ids=VARIANT_IDS)
async def test_lifecycle_in_every_answer_form(
    sandbox: UpstreamSandbox, client: UpstreamClient, adapter: str, knob: str, value: str
) -> None:
    if knob:
        setattr(sandbox.video, knob, value)
    api = video_adapters(client)[adapter]
    task_id = await api.submit(request_for(adapter))

    queued = await api.fetch(task_id)
    assert queued is not None and queued.status == "pending" and queued.url is None
    advance(sandbox, 2.0)
    running = await api.fetch(task_id)
    assert running is not None and running.status == "running" and 0 < running.progress < 100
    advance(sandbox, 3.0)
    done = await api.fetch(task_id)
    assert done is not None and done.status == "succeeded" and done.progress == 100
    assert done.url is not None

    before = len(sandbox.records)
    data = await client.download(done.url, max_bytes=1 << 20)
    assert data[4:8] == b"ftyp" and b"mdat" in data
    [fetched] = sandbox.records[before:]
    keyed = adapter == "sora" or value == "proxy"
    assert fetched.path.endswith("/content" if keyed else ".mp4")
    # The key goes to the gateway's own content route and never to the file host.
    assert fetched.has_auth is keyed and fetched.status == 200


@pytest.mark.parametrize("adapter", list(MODELS))
async def test_failure_reason_and_unknown_ids(
    sandbox: UpstreamSandbox, client: UpstreamClient, adapter: str
) -> None:
    api = video_adapters(client)[adapter]
    sandbox.video.fail_next = "content moderation: unsafe"
    task_id = await api.submit(request_for(adapter))
    advance(sandbox, 10.0)
    failed = await api.fetch(task_id)
    assert failed == VideoTask(
        task_id, "failed", failed.progress, None, "content moderation: unsafe"
    )
    assert task_state(failed).error == "content moderation: unsafe"
    unknown = "text2video/424242" if adapter == "kling" else "00000000-0000-0000-0000-0000000000ff"
    assert await api.fetch(unknown) is None


async def test_each_adapter_sends_its_own_request_shape(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    adapters = video_adapters(client)
    image = base64.b64encode(PNG).decode()
    kling_id = await adapters["kling"].submit(request_for("kling", duration=10, image=PNG))
    assert kling_id.startswith("image2video/")
    [kling_call] = sandbox.requests_to("/kling/v1/videos/image2video")
    assert kling_call.json["duration"] == "10" and kling_call.json["image"] == image
    assert kling_call.json["model_name"] == "kling-v1" and kling_call.json["mode"] == "std"

    await adapters["luma"].submit(request_for("luma", image=PNG, aspect="9:16"))
    [luma_call] = sandbox.requests_to("/luma/generations")
    assert luma_call.json["image_url"] == f"data:image/png;base64,{image}"
    assert (
        luma_call.json["user_prompt"] == "a cat surfing"
        and luma_call.json["aspect_ratio"] == "9:16"
    )

    await adapters["runway"].submit(request_for("runway", aspect="9:16", duration=10))
    [runway_call] = sandbox.requests_to("/runwayml/v1/image_to_video")
    assert runway_call.json["ratio"] == "768:1280" and runway_call.json["duration"] == 10
    assert runway_call.json["promptImage"].startswith("data:image/png;base64,")

    await adapters["sora"].submit(request_for("sora", duration=8, image=PNG, aspect="9:16"))
    [sora_task] = [t for t in sandbox.video.tasks.values() if t.api == "sora"]
    assert sora_task.request["seconds"] == "8" and sora_task.request["size"] == "720x1280"
    reference = sora_task.request["input_reference"]
    assert reference["content_type"] == "image/png" and reference["size"] == len(PNG)

    await adapters["unified"].submit(request_for("unified", duration=8))
    [call] = sandbox.requests_to("/v1/video/generations")
    assert call.json["duration"] == 8 and call.json["seconds"] == "8"
    assert call.json["metadata"] == {"aspect_ratio": "16:9"} and "image" not in call.json


async def test_refusals_name_their_reason_and_keep_their_class(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    adapters = video_adapters(client)
    with pytest.raises(SubmitRejected) as kling_error:
        await adapters["kling"].submit(request_for("kling", duration=7))
    assert kling_error.value.detail == 'duration must be "5" or "10"'

    with pytest.raises(SubmitRejected) as luma_error:
        await adapters["luma"].submit(request_for("luma", aspect="2:1"))
    assert luma_error.value.detail == "aspect_ratio is invalid"

    with pytest.raises(SubmitRejected, match="seconds must be one of"):
        await adapters["sora"].submit(request_for("sora", duration=6))

    with pytest.raises(SubmitRejected, match="promptImage is required"):
        await adapters["runway"].submit(request_for("runway", image=None))

    sandbox.inject_error("insufficient_balance", path_regex="^/v1/video/generations$")
    with pytest.raises(UpstreamInsufficientBalance):
        await adapters["unified"].submit(request_for("unified"))

    # Kling's own refusal can also arrive under HTTP 200, with a numeric code.
    sandbox.inject("^/kling/", 200, {"code": 1102, "message": "account balance not enough"})
    with pytest.raises(SubmitRejected, match="account balance not enough"):
        await adapters["kling"].submit(request_for("kling"))
    assert sandbox.video.submits["kling"] == 0

    sandbox.inject_error("bad_gateway", path_regex="^/luma/generations/")
    with pytest.raises(UpstreamError):
        await adapters["luma"].fetch("some-id")  # a transient poll error: the engine backs off


def test_documented_bodies_parse() -> None:
    """The literal examples of upstream-api.md §4."""
    videos = [{"id": "v", "url": "https://cdn/x.mp4", "duration": "5.1"}]
    native = {
        "code": 0, "message": "SUCCEED",
        "data": {"task_id": "8672", "task_status": "succeed", "task_status_msg": "",
                 "task_result": {"videos": videos}},
    }  # fmt: skip
    assert kling.parse_submit({"code": 0, "data": {"task_id": "8672", "task_status": "submitted"}})
    assert kling.parse_task(native, "t").url == "https://cdn/x.mp4"
    rewrapped = {"id": "task_1", "task_id": "task_1", "object": "video", "status": "queued"}
    assert kling.parse_submit(rewrapped) == "task_1"
    envelope = {"code": "success", "data": {"status": "SUCCESS", "result_url": "", "data": native}}
    assert kling.parse_task(envelope, "t").url == "https://cdn/x.mp4"  # from Kling's own body

    assert luma.parse_submit({"code": 0, "message": "", "data": {"id": "g1", "state": "pending"}})
    assert luma.parse_submit({"task_id": "g2"}) == "g2"
    done = {
        "id": "g1",
        "state": "completed",
        "video": {"url": None, "download_url": "https://d/v.mp4"},
    }
    assert luma.parse_generation([done], "g1").url == "https://d/v.mp4"
    failed = {"id": "g1", "state": "failed", "detail": {"reason": "nsfw", "code": 1}}
    assert luma.parse_generation(failed, "g1").error == "nsfw"

    running = runway.parse_task({"id": "r", "status": "THROTTLED", "progress": 0.4}, "r")
    assert (running.status, running.progress) == ("pending", 40)
    assert runway.ratio_for("gen3a_turbo", "16:9") == "1280:768"
    assert runway.ratio_for("gen4_turbo", "1:1") == "960:960"
    assert runway.ratio_for("gen4_turbo", "1584:672") == "1584:672"

    metadata = {"id": "task_9", "status": "completed", "metadata": {"url": "https://k/v.mp4"}}
    assert sora.parse_video_object(metadata, "task_9", content_url="x").url == "https://k/v.mp4"
    plain = sora.parse_video_object({"status": "completed"}, "task_9", content_url="/c")
    assert plain.url == "/c"
    error = {"status": "failed", "error": {"code": "x", "message": "blocked"}}
    assert sora.parse_video_object(error, "t", content_url=None).error == "blocked"

    success = {"status": "SUCCESS", "progress": "100%", "fail_reason": "https://cdn/old.mp4"}
    old = {"code": "success", "data": {**success, "result_url": ""}}
    assert unified.parse_envelope(old, "t").url == "https://cdn/old.mp4"
    veo = {"code": "success", "data": {"task_id": "t", "status": "processing", "format": "mp4"}}
    assert unified.parse_envelope(veo, "t").status == "running"
    bare = {"task_id": "t", "status": "IN_PROGRESS", "progress": "30%"}
    assert unified.parse_envelope(bare, "t").progress == 30
    nothing = {"code": "success", "data": {"status": "SUCCESS", "result_url": "", "data": {}}}
    assert task_state(unified.parse_envelope(nothing, "t")).error == NO_VIDEO


def test_error_details_and_progress_are_read_leniently() -> None:
    assert readable_detail('{"detail":{"reason":"bad prompt","code":1}}') == "bad prompt"
    assert readable_detail('{"code":1201,"message":"duration invalid"}') == "duration invalid"
    assert readable_detail("plain words") == "plain words"
    assert progress_of("45%", "running") == 45
    assert progress_of(0.25, "running") == 25
    assert progress_of(None, "running") == 30
    assert progress_of("n/a", "pending") == 0
    assert progress_of(250, "running") == 100
    assert progress_of(None, "succeeded") == 100


def test_runway_progress_is_a_fraction_all_the_way_to_one() -> None:
    def shown(progress: Any) -> int:
        return runway.parse_task(
            {"id": "r", "status": "RUNNING", "progress": progress}, "r"
        ).progress

    assert [shown(p) for p in (0, 0.01, 0.5, 0.999, 1.0, 1)] == [0, 1, 50, 99, 100, 100]
    assert progress_of(1.0, "running") == 1  # other APIs count in percent: 1.0 is 1%


def test_a_unified_image_task_is_shown_like_any_image_result() -> None:
    done = VideoTask("t", "succeeded", url="https://cdn/flux.png")
    assert task_state(done, "image").result == {"urls": ["https://cdn/flux.png"]}
    assert task_state(VideoTask("t", "succeeded"), "image").error == NO_IMAGE
    assert task_state(done).result == {"video_url": "https://cdn/flux.png"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(["code", "data", "status", "state", "task_status", "id", "task_id",
                         "video", "url", "output", "progress", "result_url", "fail_reason",
                         "error", "object", "metadata", "task_result", "videos", "message"])
        | st.text(max_size=5),
        children,
        max_size=5,
    ),
    max_leaves=15,
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_parsers_never_raise_anything_but_a_typed_error(body: Any) -> None:
    parsers = [
        lambda b: kling.parse_task(b, "text2video/1"),
        kling.parse_submit,
        lambda b: luma.parse_generation(b, "1"),
        luma.parse_submit,
        lambda b: runway.parse_task(b, "1"),
        lambda b: sora.parse_video_object(b, "1", content_url="/c"),
        lambda b: unified.parse_envelope(b, "1"),
        lambda b: mj_video.parse_task(b, "1"),
    ]
    for parse in parsers:
        try:
            result = parse(body)
        except (UpstreamFailure, SubmitRejected):
            continue
        if isinstance(result, VideoTask):
            assert 0 <= result.progress <= 100
            assert result.url is None or result.status == "succeeded"


def test_video_config_checks_and_prices() -> None:
    config = VideoConfig()
    assert config.model(None).name == "kling-v1"
    assert {m.adapter for m in config.models} == {"kling", "luma", "runway", "sora", "unified"}
    flat = VideoModel(name="a", adapter="kling", price=30)
    assert flat.cost(10, 100) == 30
    assert VideoModel(name="b", adapter="kling").cost(10, 100) == 100
    scaled = VideoModel(name="c", adapter="sora", price=20, price_per_second=10)
    assert scaled.cost(4, 100) == 60 and scaled.cost(12, 100) == 140
    with pytest.raises(ValueError, match="runway makes videos from an image"):
        VideoModel(name="r", adapter="runway", image="optional")
    with pytest.raises(ValueError, match="not one of the models"):
        VideoConfig(default_model="nope")
    with pytest.raises(ValueError, match="each name may appear once"):
        VideoConfig(models=[flat, flat], default_model="a")
    with pytest.raises(ValueError, match="must be > 0"):
        VideoModel(name="d", adapter="luma", durations=[0])


async def test_last_frames_go_as_each_api_takes_them_and_the_sandbox_refuses_the_rest(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    adapters = video_adapters(client)
    last = sandbox_png("last-frame", grid=False)
    await adapters["kling"].submit(request_for("kling", image=PNG, end_image=last))
    [kling_call] = sandbox.requests_to("/kling/v1/videos/image2video")
    assert kling_call.json["image_tail"] == base64.b64encode(last).decode()  # bare, as `image`
    await adapters["luma"].submit(request_for("luma", image=PNG, end_image=last))
    [luma_call] = sandbox.requests_to("/luma/generations")
    assert (
        luma_call.json["image_end_url"]
        == f"data:image/png;base64,{base64.b64encode(last).decode()}"
    )

    # Kling takes a last frame only with a first one, and never as a data: URI.
    body = {"model_name": "kling-v1", "prompt": "p", "image_tail": "aGk="}
    with pytest.raises(UpstreamFailure, match="image_tail is for image2video only"):
        await client.request_json("POST", "/kling/v1/videos/text2video", json=body)
    body |= {"image": "aGk=", "image_tail": "data:image/png;base64,aGk="}
    with pytest.raises(UpstreamFailure, match="image_tail must be a URL or bare base64"):
        await client.request_json("POST", "/kling/v1/videos/image2video", json=body)
    luma_body = {"user_prompt": "p", "image_end_url": "ftp://x"}
    with pytest.raises(UpstreamFailure, match="image_end_url must be a URL or a data URI"):
        await client.request_json("POST", "/luma/generations", json=luma_body)
