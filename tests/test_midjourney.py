"""MidjourneyClient against the sandbox gateway's /mj routes (upstream-api.md §2, §6)."""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import (
    BannedPrompt,
    QueueFull,
    SubmitFailed,
    SubmitRejected,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
)
from bot.job_types import TaskState
from bot.mj_masks import mask_base64, region_mask
from bot.providers.midjourney import task_state
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.png import PNG_SIGNATURE, SANDBOX_SIDE, sandbox_png
from bot.sandbox.upstream.wire import mj_error
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import (
    STATUSES,
    MidjourneyClient,
    MJButton,
    MJTask,
    data_uri,
    describe_prompts,
)
from tests.helpers import ManualClock

KEY = "sk-MjTestKey0123456789abcdefXYZ"
BARE_KEY = KEY.removeprefix("sk-")
IMAGE = data_uri(sandbox_png("input", grid=False))
GRID_LABELS = ["U1", "U2", "U3", "U4", "", "V1", "V2", "V3", "V4"]


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        sb.midjourney.durations = (0.01, 0.01, 0.06)
        yield sb


@pytest.fixture
async def client(sandbox: UpstreamSandbox) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(
            session, sandbox.base_url, KEY, connect_timeout=1, read_timeout=2, total_timeout=5
        )


@pytest.fixture
def mj(client: UpstreamClient) -> MidjourneyClient:
    return MidjourneyClient(client)


@pytest.fixture
def clock(sandbox: UpstreamSandbox) -> ManualClock:
    sandbox.midjourney.clock = manual = ManualClock()
    return manual


async def poll(
    mj: MidjourneyClient,
    task_id: str,
    seen: list[MJTask] | None = None,
    clock: ManualClock | None = None,
) -> MJTask:
    """Fetch until the task is terminal or waits for a modal."""
    for _ in range(300):
        task = await mj.fetch_one(task_id)
        if seen is not None:
            seen.append(task)
        if task.terminal or task.needs_modal:
            return task
        if clock is not None:
            clock.advance(0.005)
        else:
            await asyncio.sleep(0.005)
    raise AssertionError(f"task {task_id} did not finish")


async def finished(mj: MidjourneyClient, submit: Any) -> MJTask:
    task = await poll(mj, submit.task_id)
    assert task.succeeded, task
    return task


def button(task: MJTask, prefix: str) -> str:
    return next(b.custom_id for b in task.buttons if b.custom_id.startswith(prefix))


def png_chunks(data: bytes) -> list[bytes]:
    """Chunk types of a PNG, checking every CRC on the way."""
    assert data.startswith(PNG_SIGNATURE)
    kinds, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        kinds.append(kind)
        pos += 12 + length
    assert pos == len(data)
    return kinds


# --- the happy path --------------------------------------------------------------------------


async def test_imagine_polls_to_success_with_buttons_and_image(
    sandbox: UpstreamSandbox, mj: MidjourneyClient, client: UpstreamClient, clock: ManualClock
) -> None:
    submit = await mj.imagine("a cat --ar 16:9", images=[IMAGE], niji=True)
    assert (submit.code, submit.modal, submit.queued) == (1, False, None)
    body = sandbox.requests_to("/mj/submit/imagine")[0].json
    assert body == {"prompt": "a cat --ar 16:9", "base64Array": [IMAGE], "botType": "NIJI_JOURNEY"}

    seen: list[MJTask] = []
    task = await poll(mj, submit.task_id, seen, clock)
    statuses = [t.status for t in seen]
    assert statuses == sorted(
        statuses, key=["NOT_START", "SUBMITTED", "IN_PROGRESS", "SUCCESS"].index
    )
    assert {t.progress for t in seen if t.status == "IN_PROGRESS"} == {10, 45, 80}
    assert all(t.image_url is None for t in seen if t.status in ("NOT_START", "SUBMITTED"))
    running = [t for t in seen if t.status == "IN_PROGRESS"]
    assert all(t.image_url and "?rand=" in t.image_url for t in running)

    assert (task.id, task.action, task.status, task.progress) == (
        submit.task_id,
        "IMAGINE",
        "SUCCESS",
        100,
    )
    assert task.terminal and task.succeeded and task.fail_reason == ""
    # The proxy uploads the image prompt and puts its link in front of the prompt.
    [link] = [w for w in task.prompt.split() if "/mj/upload/" in w]
    assert (task.prompt, task.final_prompt) == (f"{link} a cat --ar 16:9",) * 2
    assert [b.label for b in task.buttons] == GRID_LABELS
    assert task.buttons[4].emoji == "🔄" and task.buttons[4].custom_id.endswith("::SOLO")
    assert task.buttons[0].custom_id.startswith("MJ::JOB::upsample::1::")
    assert task.image_url == f"{sandbox.base_url}/mj/image/{submit.task_id}"

    image = await client.download(task.image_url, max_bytes=1 << 20)
    assert png_chunks(image) == [b"IHDR", b"IDAT", b"IEND"]
    assert sandbox.midjourney.submits == {"IMAGINE": 1}


async def test_image_route_needs_no_key_and_honours_size(
    sandbox: UpstreamSandbox, mj: MidjourneyClient, client: UpstreamClient
) -> None:
    task = await finished(mj, await mj.imagine("a dog"))
    assert task.image_url is not None
    async with aiohttp.ClientSession() as bare, bare.get(task.image_url) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
    sandbox.midjourney.image_bytes = 50_000
    image = await client.download(task.image_url, max_bytes=50_000)
    assert len(image) == 50_000 and b"tEXt" in png_chunks(image)
    with pytest.raises(UpstreamFailure, match="too large"):
        await client.download(task.image_url, max_bytes=49_999)


async def test_list_by_condition_in_one_request_leaves_out_missing(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    ids = [(await mj.imagine(f"cat {n}")).task_id for n in range(3)]
    tasks = await mj.fetch([ids[0], "404404404", ids[1], ids[2]])
    assert [t.id for t in tasks] == ids
    assert len(sandbox.requests_to("/mj/task/list-by-condition")) == 1
    assert sandbox.requests_to("/mj/task/list-by-condition")[0].json == {
        "ids": [ids[0], "404404404", ids[1], ids[2]]
    }
    assert await mj.fetch([]) == []
    assert len(sandbox.requests_to("/mj/task/list-by-condition")) == 1


async def test_fetch_one_unknown_task(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    with pytest.raises(UpstreamFailure) as info:
        await mj.fetch_one("404404404")
    assert (info.value.status, info.value.code, info.value.detail) == (400, "4", "task_not_found")
    sandbox.inject("/fetch$", 200, mj_error(3, "任务不存在"))
    with pytest.raises(UpstreamFailure) as info:
        await mj.fetch_one("404404404")
    assert (info.value.status, info.value.code, info.value.detail) == (200, "3", "任务不存在")


async def test_speed_prefix(sandbox: UpstreamSandbox, client: UpstreamClient) -> None:
    fast = MidjourneyClient(client, path_prefix="mj-fast/")
    submit = await fast.imagine("a fast cat")
    await fast.fetch([submit.task_id])
    await finished(fast, submit)
    paths = {r.path for r in sandbox.records}
    assert "/mj-fast/mj/submit/imagine" in paths
    assert "/mj-fast/mj/task/list-by-condition" in paths
    assert f"/mj-fast/mj/task/{submit.task_id}/fetch" in paths
    assert sandbox.midjourney.tasks[submit.task_id].mode == "fast"


# --- submit codes ----------------------------------------------------------------------------


async def test_queued_code_22(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    sandbox.midjourney.queued = 3
    submit = await mj.imagine("a queued cat")
    assert (submit.code, submit.queued, submit.modal) == (22, 3, False)
    await finished(mj, submit)


async def test_queue_full_code_23(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    sandbox.midjourney.queue_full = True
    with pytest.raises(QueueFull) as info:
        await mj.imagine("a cat")
    assert (info.value.code, info.value.status) == ("23", 200)
    assert not sandbox.midjourney.tasks and not sandbox.midjourney.submits


async def test_banned_prompt_code_24_names_the_word(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    with pytest.raises(BannedPrompt) as info:
        await mj.imagine("a scene full of Gore, 4k")
    assert info.value.word == "gore" and info.value.params["word"] == "gore"
    assert info.value.code == "24"
    assert not sandbox.midjourney.submits


async def test_validation_code_4_is_submit_rejected(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    # The proxy's answer, passed through under HTTP 200.
    with pytest.raises(SubmitRejected) as info:
        await mj.blend([IMAGE])
    assert (info.value.status, info.value.code) == (200, "4")
    with pytest.raises(SubmitRejected):
        await mj.describe("https://example.com/not-a-data-uri.png")
    # new-api's own check, HTTP 400 in the Midjourney shape.
    with pytest.raises(SubmitRejected) as info:
        await mj.imagine("  ")
    assert (info.value.status, info.value.detail) == (400, "prompt_is_required")
    for code in (3, 9, 99):
        sandbox.inject("/mj/submit/", 200, mj_error(code, "no account instance"))
        with pytest.raises(SubmitRejected) as info:
            await mj.imagine("a cat")
        assert info.value.code == str(code)
        # 9 is the proxy's own failure, not a bad request: the member is told to try again.
        assert isinstance(info.value, SubmitFailed) == (code == 9)
    assert not sandbox.midjourney.submits
    with pytest.raises(ValueError):
        await mj.blend([IMAGE, IMAGE], dimensions="WIDE")


async def test_action_refusals(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    submit = await mj.imagine("a cat")
    early = "MJ::JOB::upsample::1::00000000-0000-0000-0000-000000000000"
    with pytest.raises(SubmitRejected, match="task_status_not_success"):
        await mj.action(submit.task_id, early)
    task = await finished(mj, submit)
    with pytest.raises(SubmitRejected) as info:
        await mj.action(task.id, "MJ::JOB::dance::1::abc")
    assert info.value.detail == "unknown_action:MJ::JOB::dance::1::abc"
    with pytest.raises(SubmitRejected, match="unknown_action"):
        await mj.action(task.id, early)  # a hash that is not on this task
    with pytest.raises(SubmitRejected, match="task_not_found"):
        await mj.action("404404404", task.buttons[0].custom_id)


async def test_insufficient_balance_and_saturation(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    sandbox.inject_error("mj_insufficient_balance", path_regex="/mj/submit/")
    with pytest.raises(UpstreamInsufficientBalance) as info:
        await mj.imagine("a cat")
    assert info.value.status == 400
    # A raw proxy says the same under HTTP 200.
    sandbox.inject("/mj/submit/", 200, mj_error(4, "quota_not_enough "))
    with pytest.raises(UpstreamInsufficientBalance):
        await mj.imagine("a cat")
    sandbox.inject_error("mj_saturated", path_regex="/mj/submit/")
    with pytest.raises(UpstreamRateLimited) as info:
        await mj.imagine("a cat")
    assert (info.value.status, info.value.code) == (429, "30")
    assert not sandbox.midjourney.submits


async def test_code_21_already_finished_is_a_normal_result(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    existed = {
        "code": 21,
        "description": "任务已存在",
        "result": "1712345678901234",
        "properties": {"status": "SUCCESS", "imageUrl": "https://cdn.example/x.png"},
    }
    sandbox.inject("/mj/submit/action", 200, existed)
    submit = await mj.action("1712345678901233", "MJ::JOB::upsample::1::h")
    assert (submit.task_id, submit.code, submit.modal) == ("1712345678901234", 21, False)


async def test_accepted_without_task_id_is_a_failure(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    sandbox.inject("/mj/submit/", 200, {"code": 1, "description": "ok", "result": None})
    with pytest.raises(UpstreamFailure, match="no id"):
        await mj.imagine("a cat")


# --- modal flows -----------------------------------------------------------------------------


async def test_vary_region_answers_21_then_modal_completes(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    grid = await finished(mj, await mj.imagine("a cat"))
    upscaled = await finished(mj, await mj.action(grid.id, button(grid, "MJ::JOB::upsample::2")))
    assert upscaled.action == "UPSCALE" and len(upscaled.buttons) == 12
    ids = [b.custom_id for b in upscaled.buttons]
    assert ids[0].startswith("MJ::JOB::upsample_v6_2x_subtle::1::")
    for prefix in ("MJ::Inpaint::", "MJ::Outpaint::50::", "MJ::Outpaint::75::", "MJ::CustomZoom::"):
        assert any(i.startswith(prefix) for i in ids), prefix
    for pan in ("left", "right", "up", "down"):
        assert any(i.startswith(f"MJ::JOB::pan_{pan}::") for i in ids)

    submit = await mj.action(upscaled.id, button(upscaled, "MJ::Inpaint::"))
    assert (submit.code, submit.modal) == (21, True)
    waiting = await mj.fetch_one(submit.task_id)
    assert waiting.needs_modal and not waiting.terminal and waiting.status == "MODAL"

    # Like the proxy, the sandbox refuses an inpaint without a mask of the image's size.
    for wrong in (None, "bWFzaw==", mask_base64(region_mask((32, 32), "left"))):
        with pytest.raises(SubmitRejected):
            await mj.modal(submit.task_id, "a cat wearing a hat", mask_base64=wrong)
    mask = mask_base64(region_mask((SANDBOX_SIDE, SANDBOX_SIDE), "left"))
    confirmed = await mj.modal(submit.task_id, "a cat wearing a hat", mask_base64=mask)
    assert (confirmed.task_id, confirmed.code, confirmed.modal) == (submit.task_id, 1, False)
    assert sandbox.requests_to("/mj/submit/modal")[-1].json == {
        "taskId": submit.task_id,
        "prompt": "a cat wearing a hat",
        "maskBase64": mask,
    }
    done = await finished(mj, confirmed)
    assert done.action == "INPAINT" and done.prompt == "a cat wearing a hat"
    assert [b.label for b in done.buttons] == GRID_LABELS
    assert sandbox.midjourney.tasks[submit.task_id].mask == mask
    assert sandbox.midjourney.submits == {"IMAGINE": 1, "UPSCALE": 1, "INPAINT": 1, "MODAL": 1}

    zoom = await mj.action(upscaled.id, button(upscaled, "MJ::CustomZoom::"))
    assert zoom.modal
    await finished(mj, await mj.modal(zoom.task_id, "a cat --zoom 1.8"))
    with pytest.raises(SubmitRejected):
        await mj.modal(zoom.task_id, "again")  # no longer waiting


async def test_remix_action_waits_in_status_modal(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    grid = await finished(mj, await mj.imagine("a cat"))
    sandbox.midjourney.remix = True
    submit = await mj.action(grid.id, button(grid, "MJ::JOB::variation::3"))
    assert (submit.code, submit.modal) == (1, False)
    task = await poll(mj, submit.task_id)
    assert task.needs_modal
    await mj.modal(task.id, "a cat, remixed")
    assert (await finished(mj, submit)).action == "VARIATION"


# --- failures and other results --------------------------------------------------------------


async def test_failure_after_progress(
    sandbox: UpstreamSandbox, mj: MidjourneyClient, clock: ManualClock
) -> None:
    sandbox.midjourney.fail_next = "Request cancelled due to image filters"
    seen: list[MJTask] = []
    task = await poll(mj, (await mj.imagine("a cat")).task_id, seen, clock)
    assert [t.progress for t in seen if t.status == "IN_PROGRESS"][-1] == 80
    assert (task.status, task.fail_reason, task.progress) == (
        "FAILURE",
        "Request cancelled due to image filters",
        80,
    )
    assert task.terminal and not task.succeeded and task.buttons == []
    assert sandbox.midjourney.fail_next is None
    assert (await poll(mj, (await mj.imagine("the next one")).task_id, clock=clock)).succeeded


async def test_never_finish_and_blank_status(
    sandbox: UpstreamSandbox, mj: MidjourneyClient, clock: ManualClock
) -> None:
    sandbox.midjourney.blank_status = True
    sandbox.midjourney.durations = (0.05, 0.01, 0.01)
    sandbox.midjourney.never_finish = True
    submit = await mj.imagine("a slow cat")
    first = await mj.fetch_one(submit.task_id)
    assert first.status == "" and not first.terminal
    clock.advance(0.12)  # well past every duration: it would be done, but never finishes
    task = await mj.fetch_one(submit.task_id)
    assert (task.status, task.progress, task.terminal) == ("IN_PROGRESS", 80, False)


async def test_describe_gives_four_prompts(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    submit = await mj.describe(IMAGE)
    assert sandbox.requests_to("/mj/submit/describe")[0].json == {
        "base64": IMAGE,
        "botType": "MID_JOURNEY",
    }
    task = await finished(mj, submit)
    assert task.action == "DESCRIBE" and len(task.prompts) == 4
    assert task.prompts[0].startswith("sandbox scene") and "Sandbox Artist 1" in task.prompts[0]
    assert all("https://" not in p and "\u20e3" not in p for p in task.prompts)
    assert task.image_url and task.buttons == []


async def test_blend(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    task = await finished(mj, await mj.blend([IMAGE, IMAGE, IMAGE], "PORTRAIT"))
    assert task.action == "BLEND" and [b.label for b in task.buttons] == GRID_LABELS
    body = sandbox.requests_to("/mj/submit/blend")[0].json
    assert body["dimensions"] == "PORTRAIT" and len(body["base64Array"]) == 3


# --- secrets ---------------------------------------------------------------------------------


async def test_key_never_in_logs_or_errors(
    sandbox: UpstreamSandbox,
    mj: MidjourneyClient,
    client: UpstreamClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    task = await finished(mj, await mj.imagine("a cat"))
    await mj.fetch([task.id])
    errors: list[UpstreamError] = []
    sandbox.inject("/mj/submit/", 200, mj_error(4, f"bad key {KEY} ({BARE_KEY})"))
    sandbox.inject(
        "/mj/submit/",
        200,
        {"code": 24, "description": "banned", "properties": {"bannedWord": BARE_KEY}},
    )
    sandbox.inject("/mj/submit/", 400, mj_error(4, f"token {BARE_KEY} refused"))
    sandbox.inject("/mj/task/", 400, f"plain text with {KEY}")
    for call in (
        lambda: mj.imagine("x"),
        lambda: mj.imagine("x"),
        lambda: mj.action(task.id, task.buttons[0].custom_id),
        lambda: mj.fetch_one(task.id),
    ):
        try:
            await call()
        except UpstreamError as exc:
            errors.append(exc)
    assert len(errors) == 4
    texts = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [str(e.params) for e in errors] + [repr(mj)]
    assert any("sk-***" in t for t in texts)
    for text in texts:
        assert BARE_KEY not in text


# --- parsing ---------------------------------------------------------------------------------


def test_task_parsing_is_tolerant() -> None:
    task = MJTask.from_json(
        {
            "id": 1712345678901234,
            "status": "in_progress",
            "progress": "45.5%",
            "imageUrl": "",
            "buttons": [
                {"customId": "MJ::JOB::upsample::1::h", "label": "U1"},
                {"customId": "MJ::a", "label": "not an action"},
                {"label": "no id"},
                "junk",
            ],
            "properties": None,
        }
    )
    assert (task.id, task.status, task.progress, task.image_url) == (
        "1712345678901234",
        "IN_PROGRESS",
        45,
        None,
    )
    assert task.buttons == [MJButton("MJ::JOB::upsample::1::h", "U1", "")]
    assert MJTask.from_json({"status": "WEIRD", "progress": "-5%"}).status == ""
    assert MJTask.from_json({"status": "SUCCESS", "progress": None}).progress == 100
    assert MJTask.from_json(None) == MJTask(id="")
    describe = MJTask.from_json(
        {"action": "DESCRIBE", "prompt": "1⃣ one\n\n2️⃣ two [x](https://a.b/c) --ar 1:1"}
    )
    assert describe.prompts == ["one", "two x --ar 1:1"]


def test_a_task_in_status_modal_awaits_its_prompt() -> None:
    waiting = MJTask.from_json(
        {
            "id": "7",
            "status": "MODAL",
            "prompt": "a cat",
            "properties": {"finalPrompt": "a cat --v 6"},
        }
    )
    assert task_state(waiting) == TaskState("awaiting", result={"prompt": "a cat --v 6"})
    running = task_state(MJTask.from_json({"id": "7", "status": "IN_PROGRESS", "imageUrl": "u"}))
    assert (running.status, running.preview_url) == ("running", "u")


def test_data_uri_reads_the_image_type() -> None:
    assert IMAGE.startswith("data:image/png;base64,iVBORw0KGgo")
    assert data_uri(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    assert data_uri(b"GIF89a...").startswith("data:image/gif;base64,")
    assert data_uri(b"RIFF\x00\x00\x00\x00WEBPVP8 ").startswith("data:image/webp;base64,")
    assert data_uri(b"x", "image/avif") == "data:image/avif;base64,eA=="


def test_describe_prompts() -> None:
    text = "1️⃣ a cat\nin a hat\n\n2️⃣ a dog\n\n3️⃣ a fox\n\n4️⃣ an owl --ar 3:2"
    assert describe_prompts(text) == ["a cat in a hat", "a dog", "a fox", "an owl --ar 3:2"]
    assert describe_prompts("no numbers here") == []


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
_TASKISH = st.fixed_dictionaries(
    {},
    optional={
        "id": _JSONISH,
        "action": st.sampled_from(["DESCRIBE", "IMAGINE", "UPSCALE"]) | _JSONISH,
        "status": st.sampled_from(sorted(STATUSES)) | _JSONISH,
        "progress": st.from_regex(r"-?\d{1,4}(\.\d+)?%?", fullmatch=True) | _JSONISH,
        "imageUrl": _JSONISH,
        "failReason": _JSONISH,
        "prompt": st.text(alphabet="12345\ufe0f\u20e3 ab[]()\n:/", max_size=40) | _JSONISH,
        "promptEn": _JSONISH,
        "buttons": st.lists(
            st.fixed_dictionaries({}, optional={"customId": _JSONISH, "label": _JSONISH})
            | _JSONISH,
            max_size=5,
        )
        | _JSONISH,
        "properties": st.fixed_dictionaries({}, optional={"finalPrompt": _JSONISH}) | _JSONISH,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TASKISH | _JSONISH)
def test_task_parsing_never_raises(obj: Any) -> None:
    task = MJTask.from_json(obj)
    assert isinstance(task.id, str) and isinstance(task.prompt, str)
    assert task.status in STATUSES or task.status == ""
    assert 0 <= task.progress <= 100
    assert all(isinstance(b.custom_id, str) and b.custom_id for b in task.buttons)
    assert all(isinstance(p, str) for p in task.prompts) and len(task.prompts) <= 4
    assert task.image_url is None or isinstance(task.image_url, str)


@pytest.mark.parametrize(
    ("custom_id", "shown"),
    [
        ("MJ::JOB::upsample::2::h", True),
        ("MJ::JOB::upsample_v6_2x_subtle::1::h::SOLO", True),
        ("MJ::JOB::variation::1::h", True),
        ("MJ::JOB::low_variation::1::h::SOLO", True),
        ("MJ::JOB::reroll::0::h::SOLO", True),
        ("MJ::JOB::pan_left::1::h::SOLO", True),
        ("MJ::Outpaint::50::1::h::SOLO", True),
        ("MJ::CustomZoom::h", True),
        ("MJ::Inpaint::1::h::SOLO", True),
        # Current Midjourney's buttons that stock new-api refuses with unknown_action.
        ("MJ::JOB::animate_high::1::h::SOLO", False),
        ("MJ::JOB::animate_low::1::h::SOLO", False),
        ("MJ::BOOKMARK::h", False),
        ("MJ::JOB::video_virtual_upscale::1::h", False),
        ("junk", False),
    ],
)
def test_only_buttons_the_gateway_relays_are_kept(custom_id: str, shown: bool) -> None:
    task = MJTask.from_json({"id": "1", "status": "SUCCESS", "buttons": [{"customId": custom_id}]})
    assert [b.custom_id for b in task.buttons] == ([custom_id] if shown else [])
