"""The Midjourney client's seed lookup and face swap against each shape a server answers in
(upstream-api.md §7): new-api's refusals, trueai-org's proxy, novicezk's missing route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.errors import NotOffered, SeedUnavailable, SubmitRejected, UpstreamFailure
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.mj_tools import seed_of
from bot.sandbox.upstream.png import sandbox_png
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import MidjourneyClient, data_uri
from tests.test_midjourney import IMAGE, KEY


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        sb.midjourney.durations = (0.0, 0.0, 0.0)  # a task is done once it started
        yield sb


@pytest.fixture
async def mj(sandbox: UpstreamSandbox) -> AsyncIterator[MidjourneyClient]:
    async with aiohttp.ClientSession() as session:
        yield MidjourneyClient(UpstreamClient(session, sandbox.base_url, KEY, total_timeout=5))


async def test_the_seed_of_a_finished_image(sandbox: UpstreamSandbox, mj: MidjourneyClient) -> None:
    sandbox.midjourney.never_finish = True
    running = await mj.imagine("a fox")
    with pytest.raises(SeedUnavailable) as early:  # not finished: no message hash yet
        await mj.image_seed(running.task_id)
    assert (early.value.status, early.value.code) == (400, "4")
    sandbox.midjourney.never_finish = False
    submitted = await mj.imagine("a fox")
    assert await mj.image_seed(submitted.task_id) == seed_of(submitted.task_id)


@pytest.mark.parametrize(("proxy", "status", "code"), [("gateway", 400, "4"), ("trueai", 404, "3")])
async def test_an_unknown_task_has_no_seed(
    sandbox: UpstreamSandbox, mj: MidjourneyClient, proxy: str, status: int, code: str
) -> None:
    sandbox.midjourney.proxy = proxy  # type: ignore[assignment]
    if proxy == "trueai":
        mj._client.mj_auth = "mj-api-secret"  # type: ignore[attr-defined]
    with pytest.raises(SeedUnavailable) as info:
        await mj.image_seed("404404404")
    assert (info.value.status, info.value.code) == (status, code)


async def test_a_server_without_the_seed_route_is_not_offered(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    sandbox.inject("/image-seed$", 404, {"timestamp": "…", "status": 404, "error": "Not Found",
                                         "path": "/mj/task/1/image-seed"})  # fmt: skip
    with pytest.raises(NotOffered) as info:
        await mj.image_seed("1")
    assert info.value.family == "midjourney_seed"


async def test_a_seed_that_is_no_number_is_not_passed_on(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    sandbox.inject("/image-seed$", 200, {"code": 1, "description": "成功", "result": "@everyone"})
    with pytest.raises(UpstreamFailure):
        await mj.image_seed("1")


async def test_swap_face_sends_both_images_and_refusals_are_typed(
    sandbox: UpstreamSandbox, mj: MidjourneyClient
) -> None:
    other = data_uri(sandbox_png("another face", grid=False))  # a second, different image
    submitted = await mj.swap_face(IMAGE, other)
    [call] = sandbox.requests_to("/mj/insight-face/swap")
    assert call.json == {"sourceBase64": IMAGE, "targetBase64": other}
    task = await mj.fetch_one(submitted.task_id)
    assert task.action == "SWAP_FACE" and task.image_url and task.buttons == []
    with pytest.raises(SubmitRejected) as same:
        await mj.swap_face(IMAGE, IMAGE)
    assert same.value.detail == "人脸图片和目标图片不能相同"
    with pytest.raises(SubmitRejected) as missing:  # new-api's own check: HTTP 400
        await mj.swap_face(IMAGE, "")
    assert missing.value.status == 400
