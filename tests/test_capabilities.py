"""Capability discovery against every sandbox gateway profile, its pins, and the doctor's table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.capabilities import Capabilities
from bot.config import Config, parse_config
from bot.doctor import Context, check_capabilities
from bot.errors import ConfigError
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.profiles import CONSOLE_PAGE, OFFERS, PROFILES
from bot.upstream import UpstreamClient
from bot.upstream.capabilities import FAMILIES, Answer, CapabilitiesConfig, classify, discover
from tests.helpers import wait_until


def expected(profile: str) -> dict[str, str]:
    """What discovery must find on ``profile`` (a proxy reached directly refuses "Bearer sk-…",
    upstream-api.md §7; with ``mj_auth = "auto"`` the probe asks again its way)."""
    return {f: "served" if f in OFFERS[profile] else "not served" for f in FAMILIES}


def cells(row: str) -> tuple[str, str, str]:
    """A doctor table row's columns (separated by two spaces or more)."""
    family, answer, source = (cell for cell in row.strip().split("  ") if cell)
    return family, answer.strip(), source.strip()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def config_for(sandbox: UpstreamSandbox, **capabilities: object) -> Config:
    upstream = {"base_url": sandbox.base_url, "api_key": sandbox.api_key}
    if capabilities:
        upstream["capabilities"] = capabilities
    return parse_config({}, env={}, overrides={"discord": {"token": "t"}, "upstream": upstream})


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_discovery_finds_what_each_profile_serves(
    profile: str, http: aiohttp.ClientSession
) -> None:
    async with UpstreamSandbox(profile=profile) as sandbox:
        client = UpstreamClient(http, sandbox.base_url, sandbox.api_key, mj_auth="auto")
        found = await discover(client)
    assert {f: str(a) for f, a in found.answers.items()} == expected(profile)
    if "chat" in OFFERS[profile]:
        assert found.models is not None and "gpt-4o-mini" in found.models
    else:
        assert found.models is None


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_doctor_prints_the_capability_table_of_each_profile(
    profile: str, http: aiohttp.ClientSession
) -> None:
    async with UpstreamSandbox(profile=profile) as sandbox:
        check = await check_capabilities(Context(config_for(sandbox), {}, http, 10.0))
    summary, *rows = check.detail.splitlines()
    table = {family: answer for family, answer, _ in map(cells, rows)}
    assert table == expected(profile)
    served = sum(answer == "served" for answer in expected(profile).values())
    assert summary.endswith(f"{served} of {len(FAMILIES)} families served")
    assert check.ok


@pytest.mark.parametrize("profile", ["mj-trueai", "mj-novicezk"])
async def test_a_direct_proxy_refuses_a_bearer_key_pinned_in_config(
    profile: str, http: aiohttp.ClientSession
) -> None:
    async with UpstreamSandbox(profile=profile) as sandbox:
        config = config_for(sandbox)
        config = config.model_copy(
            update={"upstream": config.upstream.model_copy(update={"mj_auth": "bearer"})}
        )
        check = await check_capabilities(Context(config, {}, http, 10.0))
    # A key the gateway refuses is a failed check that names the setting.
    assert not check.ok
    assert check.detail.startswith("upstream.api_key: rejected on midjourney")


async def test_pins_win_and_show_as_pinned(http: aiohttp.ClientSession) -> None:
    async with UpstreamSandbox(profile="new-api") as sandbox:
        config = config_for(sandbox, served=["luma"], not_served=["kling"])
        check = await check_capabilities(Context(config, {}, http, 10.0))
    rows = {cells(row)[0]: cells(row)[1:] for row in check.detail.splitlines()[1:]}
    assert rows["luma"] == ("served", "pinned in config")
    assert rows["kling"] == ("not served", "pinned in config")
    assert rows["runway"] == ("not served", "discovered")


def test_pins_name_known_families_once() -> None:
    with pytest.raises(ValueError, match="unknown families"):
        CapabilitiesConfig(served=["lumaa"])
    with pytest.raises(ValueError, match="cannot be in both"):
        CapabilitiesConfig(served=["luma"], not_served=["luma"])
    with pytest.raises(ConfigError) as error:
        parse_config(
            {},
            env={},
            overrides={
                "discord": {"token": "t"},
                "upstream": {"api_key": "k", "capabilities": {"not_served": ["x"]}},
            },
        )
    assert error.value.problems[0][0] == "upstream.capabilities.not_served"


async def test_before_discovery_answers_everything_counts_as_served(
    http: aiohttp.ClientSession,
) -> None:
    async with UpstreamSandbox(profile="one-api") as sandbox:
        capabilities = Capabilities(
            UpstreamClient(http, sandbox.base_url, sandbox.api_key), CapabilitiesConfig()
        )
        assert capabilities.served("luma") and capabilities.models is None
        await capabilities.refresh()
        assert not capabilities.served("luma") and capabilities.served("chat")


async def test_an_unreachable_gateway_takes_nothing_away(http: aiohttp.ClientSession) -> None:
    sandbox = UpstreamSandbox()
    base_url = await sandbox.start()
    await sandbox.close()  # nothing listens there any more
    capabilities = Capabilities(UpstreamClient(http, base_url, "sk-x"), CapabilitiesConfig())
    found = await capabilities.refresh()
    assert set(found.answers.values()) == {Answer.UNKNOWN}
    assert all(capabilities.served(f) for f in FAMILIES)


async def test_discovery_runs_again_every_refresh_interval(http: aiohttp.ClientSession) -> None:
    async with UpstreamSandbox(profile="new-api") as sandbox:
        config = CapabilitiesConfig(refresh_minutes=0.001)  # every 0.06 s
        capabilities = Capabilities(UpstreamClient(http, sandbox.base_url, sandbox.api_key), config)
        capabilities.start()
        try:
            assert await capabilities.wait_discovered(5)
            assert capabilities.served("kling")
            # The gateway drops its Kling channel: a later round notices.
            sandbox.inject(r"^/kling/", 200, CONSOLE_PAGE, times=None)
            await wait_until(lambda: not capabilities.served("kling"), timeout=5)
            assert len(sandbox.requests_to("/v1/models")) >= 2
        finally:
            await capabilities.stop()
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "capability-discovery"]


@pytest.mark.parametrize(
    ("status", "kind", "body", "answer"),
    [
        (200, "text/html", CONSOLE_PAGE.encode(), Answer.NOT_SERVED),
        (404, "text/plain", b"404: Not Found", Answer.NOT_SERVED),
        (404, "application/octet-stream", b"", Answer.NOT_SERVED),
        (404, "application/json", b'{"error":{"message":"Invalid URL (GET /v1/x)"}}',
         Answer.NOT_SERVED),
        (404, "application/json", b'{"status":404,"error":"Not Found","path":"/v1/x"}',
         Answer.NOT_SERVED),
        (404, "application/json", b'{"code":"task_not_exist","message":"x","data":null}',
         Answer.SERVED),
        (400, "application/json", b'{"code":4,"description":"task_not_found"}', Answer.SERVED),
        (405, "text/plain", b"405: Method Not Allowed", Answer.SERVED),
        (401, "application/json", b'{"error":{"message":"invalid token"}}', Answer.KEY_REJECTED),
        (502, "text/html", b"<html>502 Bad Gateway</html>", Answer.UNKNOWN),
        (503, "application/json", b'{"error":{"code":"model_not_found"}}', Answer.SERVED),
    ],
)  # fmt: skip
def test_probe_answers_are_read_as_a_router_would_mean_them(
    status: int, kind: str, body: bytes, answer: Answer
) -> None:
    assert classify(status, kind, body) is answer
