"""The sandbox upstream's gateway profiles answer as the gateways admins run (upstream-api §7)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.profiles import CONSOLE_PAGE, profile

BEARER = {"Authorization": "Bearer sk-sandbox"}
SECRET = {"mj-api-secret": "sk-sandbox"}
RAW = {"Authorization": "sk-sandbox"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    sandbox: UpstreamSandbox,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, str, str]:
    sent = BEARER if headers is None else headers
    async with http.request(method, f"{sandbox.base_url}{path}", headers=sent, json=body) as resp:
        return resp.status, resp.content_type, await resp.text()


@pytest.mark.parametrize("name", ["new-api", "one-api"])
async def test_routes_a_gateway_lacks_answer_its_console_page(
    name: str, http: aiohttp.ClientSession
) -> None:
    async with UpstreamSandbox(profile=name) as sandbox:
        for path in ("/luma/generations/x", "/runwayml/v1/tasks/x", "/v2/gpts/search?query=a"):
            assert await call(http, sandbox, "GET", path) == (200, "text/html", CONSOLE_PAGE)
        # Before the key is checked, as the router's fallback is.
        assert (await call(http, sandbox, "GET", "/luma/generations/x", {}))[0] == 200
        # Under /v1 the relay's own fallback: a JSON 404 in the OpenAI shape.
        status, kind, text = await call(http, sandbox, "GET", "/v1/gpts/?id=g-x")
        assert (status, kind) == (404, "application/json") and "Invalid URL" in text
        assert (await call(http, sandbox, "GET", "/v1/models"))[0] == 200


async def test_one_api_has_no_midjourney_suno_or_video(http: aiohttp.ClientSession) -> None:
    async with UpstreamSandbox(profile="one-api") as sandbox:
        for path in ("/mj/task/1/fetch", "/suno/fetch/x", "/kling/v1/videos/text2video/x"):
            assert (await call(http, sandbox, "GET", path))[:2] == (200, "text/html")
        submit = await call(http, sandbox, "POST", "/mj/submit/imagine", body={"prompt": "a"})
        assert submit[:2] == (200, "text/html")


async def test_new_api_answers_an_unknown_video_task_with_400_task_not_exist(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="new-api") as sandbox:
        for path in ("/v1/videos/nope", "/v1/video/generations/nope"):
            status, _, text = await call(http, sandbox, "GET", path)
            assert status == 400 and '"code": "task_not_exist"' in text
    async with UpstreamSandbox() as union:  # today's union answers 404
        assert (await call(http, union, "GET", "/v1/videos/nope"))[0] == 404


async def test_trueai_takes_the_raw_secret_and_refuses_bearer(http: aiohttp.ClientSession) -> None:
    async with UpstreamSandbox(profile="mj-trueai") as sandbox:
        fetch = "/mj/task/1/fetch"
        assert (await call(http, sandbox, "GET", fetch, BEARER))[0] == 401
        assert (await call(http, sandbox, "GET", fetch, RAW))[0] == 400  # task_not_found
        assert (await call(http, sandbox, "GET", fetch, SECRET))[0] == 400
        # Only /mj: the rest is a bare 404, with no console page.
        assert await call(http, sandbox, "GET", "/v1/models", RAW) == (
            404, "application/octet-stream", ""
        )  # fmt: skip


async def test_novicezk_reads_only_its_header_and_has_no_action_route(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="mj-novicezk") as sandbox:
        sandbox.midjourney.durations = (0.0, 0.0, 0.0)
        imagine = {"prompt": "a fox"}
        assert (await call(http, sandbox, "POST", "/mj/submit/imagine", RAW, imagine))[0] == 401
        status, _, text = await call(http, sandbox, "POST", "/mj/submit/imagine", SECRET, imagine)
        assert status == 200
        task_id = json.loads(text)["result"]
        async with http.get(f"{sandbox.base_url}/mj/task/{task_id}/fetch", headers=SECRET) as resp:
            task = await resp.json()
        assert task["status"] == "SUCCESS" and "buttons" not in task
        body = {"taskId": task_id, "customId": "MJ::JOB::upsample::1::x"}
        status, kind, text = await call(http, sandbox, "POST", "/mj/submit/action", SECRET, body)
        assert (status, kind) == (404, "application/json") and '"error": "Not Found"' in text


def test_an_unknown_profile_names_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="choose from"):
        profile("new_api")
