"""Reference images: the mapping to Midjourney parameters (pure), and the sandbox Midjourney
refusing what the proxies and Midjourney refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.mj_references import (
    CharacterNeedsVersion,
    ParameterNeedsVersion,
    References,
    ReferenceTwice,
    WeightOutOfRange,
    WeightWithoutReference,
    reference_parameters,
    version_of,
    without_references,
)
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.png import sandbox_png
from bot.upstream.midjourney import data_uri
from tests.helpers import ManualClock

URL = "https://cdn.example/a.png"
DEFAULTS: dict[str, Any] = {"default": "7", "niji_default": "6"}


def mapped(prompt: str, refs: References, *, niji: bool = False) -> str:
    return reference_parameters(prompt, refs, niji=niji, **DEFAULTS)


@pytest.mark.parametrize(
    ("prompt", "niji", "shown", "named"),
    [
        ("a cat", False, "V7", False),
        ("a cat --v 6.1", False, "V6.1", True),
        ("a cat --version 5.2 --ar 1:1", False, "V5.2", True),
        ("a cat", True, "Niji 6", False),
        ("a cat --niji 7", False, "Niji 7", True),
        ("a cat --niji", False, "Niji 6", True),
    ],
)
def test_version_of_a_prompt(prompt: str, niji: bool, shown: str, named: bool) -> None:
    version = version_of(prompt, niji=niji, **DEFAULTS)
    assert (str(version), version.named) == (shown, named)


def test_references_map_to_the_versions_parameters() -> None:
    both = References(styles=(URL,), character=URL, style_weight=0, character_weight=100)
    assert mapped("x --v 6", both) == f"--sref {URL} --sw 0 --cref {URL} --cw 100"
    assert mapped("x", References(character=URL, character_weight=1)) == (
        f"--oref {URL} --ow 1 --v 7"
    )
    assert mapped("x", References(styles=(URL,)), niji=True) == f"--sref {URL} --niji 6"
    assert mapped("x --niji 6", References(character=URL)) == f"--cref {URL}"
    assert mapped("x --ar 2:3", References()) == ""  # image prompts alone need no parameter


@pytest.mark.parametrize(
    ("prompt", "refs", "error"),
    [
        ("x --v 5.2", References(character=URL), CharacterNeedsVersion),
        ("x --niji 7", References(character=URL), CharacterNeedsVersion),
        ("x --v 5", References(styles=(URL,)), ParameterNeedsVersion),
        ("x --cref http://a --v 7", References(), ParameterNeedsVersion),
        ("x --oref http://a --v 6", References(), ParameterNeedsVersion),
        ("x --sref 12 --v 5", References(), ParameterNeedsVersion),
        ("x --v 6", References(character=URL, character_weight=101), WeightOutOfRange),
        ("x", References(character=URL, character_weight=0), WeightOutOfRange),
        ("x", References(style_weight=5), WeightWithoutReference),
        ("x", References(character_weight=5), WeightWithoutReference),
        ("x --sref 12", References(styles=(URL,)), ReferenceTwice),
        ("x --oref http://a", References(character=URL), ReferenceTwice),
        ("x --ow 5", References(character=URL, character_weight=5), ReferenceTwice),
    ],
)
def test_what_midjourney_would_fail_is_refused(prompt: str, refs: References, error: type) -> None:
    with pytest.raises(error):
        mapped(prompt, refs)


def test_a_new_prompt_starts_without_the_old_references() -> None:
    prompt = "a cat --sref 12 34 --sw 300 --ar 2:3 --cref http://a --cw 5 --v 6"
    assert without_references(prompt) == "a cat --ar 2:3 --v 6"


# --- the sandbox Midjourney ------------------------------------------------------------------

KEY = "sk-references"
PNG = sandbox_png("reference", False)


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        sb.midjourney.clock = ManualClock()
        yield sb


async def submit(sb: UpstreamSandbox, body: dict[str, Any]) -> dict[str, Any]:
    headers = (
        {"Authorization": f"Bearer {KEY}"}
        if sb.midjourney.proxy == "gateway"
        else {"mj-api-secret": KEY}
    )
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(f"{sb.base_url}/mj/submit/imagine", json=body) as resp,
    ):
        assert resp.status == 200
        return await resp.json()


async def fetched(sb: UpstreamSandbox, task_id: str) -> dict[str, Any]:
    assert isinstance(sb.midjourney.clock, ManualClock)
    sb.midjourney.clock.advance(10)  # past every stage
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http,
        http.get(f"{sb.base_url}/mj/task/{task_id}/fetch") as resp,
    ):
        return await resp.json()


@pytest.mark.parametrize(
    ("proxy", "entry", "accepted"),
    [
        ("gateway", "data:image/png;base64,@@not-base64@@", False),
        ("gateway", "data:image/png;base64,", False),
        ("gateway", "iVBORw0KGgo=", False),  # bare base64: only trueai-org takes it
        ("novicezk", "iVBORw0KGgo=", False),
        ("trueai", "iVBORw0KGgo=", True),
        ("trueai", "https://cdn.example/a.png", True),
        ("trueai", "data:image/png;base64,@@", False),
        ("gateway", data_uri(PNG), True),
    ],
)
async def test_base64_array_is_read_as_each_proxy_reads_it(
    sandbox: UpstreamSandbox, proxy: str, entry: str, accepted: bool
) -> None:
    sandbox.midjourney.proxy = proxy  # type: ignore[assignment]
    answer = await submit(sandbox, {"prompt": "a cat", "base64Array": [entry]})
    if not accepted:
        assert (answer["code"], answer["description"]) == (4, "base64格式错误")
        assert sandbox.midjourney.tasks == {}
        return
    assert answer["code"] == 1
    [task] = sandbox.midjourney.tasks.values()
    [link] = task.uploads
    assert task.prompt == f"{link} a cat"
    if entry == data_uri(PNG):  # the upload is served where its link points
        async with aiohttp.ClientSession() as http, http.get(link) as resp:
            assert await resp.read() == PNG


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        (f"a cat --cref {URL} --v 7", "[Invalid parameter] --cref is not compatible"),
        (f"a cat --oref {URL}", None),  # the default version is 7
        (f"a cat --oref {URL} --v 6.1", "[Invalid parameter] --oref is only available"),
        (f"a cat --sref {URL} --v 5.2", "[Invalid parameter] --sref is not compatible"),
        ("a cat --cref not-a-link --v 6", "[Invalid link] --cref not-a-link"),
        (f"a cat --cref {URL} --cw 120 --v 6", "[Invalid parameter] --cw must be from 0 to 100"),
        ("a cat --sw 100", "[Invalid parameter] --sw needs --sref"),
        (f"a cat --sref 1234 random {URL} --sw 1000", None),
    ],
)
async def test_midjourney_fails_parameters_its_version_cannot_take(
    sandbox: UpstreamSandbox, prompt: str, reason: str | None
) -> None:
    answer = await submit(sandbox, {"prompt": prompt, "base64Array": []})
    assert answer["code"] == 1  # the proxy accepts; Midjourney fails the task once it runs
    task = await fetched(sandbox, answer["result"])
    if reason is None:
        assert (task["status"], task["failReason"]) == ("SUCCESS", "")
    else:
        assert task["status"] == "FAILURE" and task["failReason"].startswith(reason)
