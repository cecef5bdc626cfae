"""The sandbox serves Midjourney video as each real server does (upstream-api.md §7): new-api
relays /mj/submit/video but refuses Midjourney's own Animate buttons; trueai-org's proxy takes
both (video behind EnableVideo); novicezk has neither. And the bot's reading of a video task."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.upstream import UpstreamSandbox
from bot.upstream.video.mj_video import clip_url, parse_task

BEARER = {"Authorization": "Bearer sk-sandbox"}
RAW = {"Authorization": "sk-sandbox"}
SECRET = {"mj-api-secret": "sk-sandbox"}
PNG_URI = "data:image/png;base64,iVBORw0KGgo="
HEADERS = {"new-api": BEARER, "mj-trueai": RAW, "mj-novicezk": SECRET}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Proxy:
    def __init__(self, http: aiohttp.ClientSession, sandbox: UpstreamSandbox, name: str) -> None:
        self.http, self.sandbox, self.headers = http, sandbox, HEADERS[name]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.sandbox.base_url}{path}"
        async with self.http.request(method, url, headers=self.headers, json=body) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text.strip() else None

    async def submit(self, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.call("POST", f"/mj/submit/{kind}", body)

    async def task(self, task_id: str) -> Any:
        return (await self.call("GET", f"/mj/task/{task_id}/fetch"))[1]

    async def upscale(self) -> dict[str, Any]:
        """A finished U1 of a finished grid (the sandbox's clock set to finish at once)."""
        self.sandbox.midjourney.durations = (0.0, 0.0, 0.0)
        _, grid = await self.submit("imagine", {"prompt": "a fox"})
        [u1] = [b for b in (await self.task(grid["result"]))["buttons"] if b["label"] == "U1"]
        _, up = await self.submit("action", {"taskId": grid["result"], "customId": u1["customId"]})
        return dict(await self.task(up["result"]))

    async def press_animate(self) -> tuple[dict[str, Any], tuple[int, Any]]:
        """An upscale, and the answer to pressing Midjourney's own Animate button under it."""
        upscale = await self.upscale()
        button = next(b for b in upscale["buttons"] if "animate_high" in b["customId"])
        pressed = {"taskId": upscale["id"], "customId": button["customId"]}
        return upscale, await self.submit("action", pressed)


async def test_new_api_relays_video_but_refuses_midjourneys_animate_buttons(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="new-api") as sandbox:
        proxy = Proxy(http, sandbox, "new-api")
        upscale, (status, body) = await proxy.press_animate()
        assert status == 400 and body["description"].startswith("unknown_action:")
        # Its own checks of a taskId come first; then the proxy's: a taskId only extends.
        assert await proxy.submit("video", {"taskId": "nope", "prompt": "a"}) == (
            400, {"code": 4, "description": "task_not_found", "type": "upstream_error"}
        )  # fmt: skip
        status, body = await proxy.submit("video", {"taskId": upscale["id"], "prompt": "a"})
        assert (status, body["code"], body["description"]) == (200, 4, "任务类型错误")
        status, body = await proxy.submit("video", {"prompt": "waves", "image": PNG_URI})
        assert (status, body["code"]) == (200, 1)
        video = await proxy.task(body["result"])
        assert video["action"] == "VIDEO" and video["status"] == "SUCCESS"
        assert sandbox.midjourney.submits["VIDEO"] == 1


async def test_trueai_turns_its_animate_buttons_into_a_video_with_four_clips(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="mj-trueai") as sandbox:
        _, (status, body) = await Proxy(http, sandbox, "mj-trueai").press_animate()
        assert (status, body["code"]) == (200, 1)
        video = await Proxy(http, sandbox, "mj-trueai").task(body["result"])
        assert (video["action"], video["status"], video["buttons"]) == ("VIDEO", "SUCCESS", [])
        clips = [item["url"] for item in video["videoUrls"]]
        assert len(clips) == 4 and all(c.endswith(".mp4") for c in clips)
        assert [i["url"] for i in video["imageUrls"]] == clips  # copied, as trueai does
        assert video["videoUrl"] == video["imageUrl"] == clips[0]
        async with http.get(clips[0]) as resp:  # the file host: no key
            assert resp.status == 200 and (await resp.read())[4:8] == b"ftyp"
        assert clip_url(video) == clips[0]


async def test_trueai_checks_its_video_route_before_starting_anything(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="mj-trueai") as sandbox:
        proxy = Proxy(http, sandbox, "mj-trueai")
        refusals = {
            "Prompt 不能为空": {"image": PNG_URI},
            "base64格式错误": {"prompt": "a", "image": "data:image/png;base64,@@"},
            "image is required": {"prompt": "a"},
        }
        for description, body in refusals.items():
            assert (await proxy.submit("video", body))[1]["description"] == description
        sandbox.midjourney.video_enabled = False
        _, body = await proxy.submit("video", {"prompt": "a", "image": PNG_URI})
        assert (body["code"], body["description"]) == (4, "视频功能未启用")
        assert sandbox.midjourney.submits["VIDEO"] == 0


async def test_novicezk_has_no_video_route(http: aiohttp.ClientSession) -> None:
    async with UpstreamSandbox(profile="mj-novicezk") as sandbox:
        status, body = await Proxy(http, sandbox, "mj-novicezk").submit("video", {"prompt": "a"})
        assert status == 404 and body["error"] == "Not Found"


def test_a_video_task_is_read_from_its_clips_never_its_picture() -> None:
    base = {"id": "7", "action": "VIDEO", "status": "SUCCESS", "progress": "100%"}
    clip = "https://cdn.example/video/7/0_0.mp4"
    for extra in ({"videoUrls": [{"url": clip}]}, {"videoUrl": clip},
                  {"imageUrls": [{"url": clip}], "videoUrls": None}):  # fmt: skip
        task = parse_task({**base, "imageUrl": "https://cdn.example/7.png", **extra}, "7")
        assert (task.status, task.url, task.progress) == ("succeeded", clip, 100)
    assert parse_task({**base, "imageUrl": "https://cdn.example/7.png"}, "7").url is None
    running = parse_task({**base, "status": "IN_PROGRESS", "progress": "45%"}, "7")
    assert (running.status, running.progress, running.url) == ("running", 45, None)
    failed = parse_task({**base, "status": "FAILURE", "failReason": "banned"}, "7")
    assert (failed.status, failed.error) == ("failed", "banned")
