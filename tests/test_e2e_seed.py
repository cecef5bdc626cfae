"""The Seed button under a Midjourney image, end to end: the seed shown privately and free,
after a restart too; refused plainly where the gateway has no seed route (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from bot.sandbox.upstream.mj_tools import seed_of
from bot.sandbox.world import SandboxWorld
from tests.helpers import command_requests, custom_ids, on_gateways, private_reply, run_slash
from tests.test_e2e_imagine import CONFIG, balance, finished_card, labels

SEED_PREFIX = "atelier:mjseed:"


async def ledger_rows(world: SandboxWorld) -> tuple[int, int]:
    """(ledger rows, holds) of every guild: asking for a seed must add neither."""
    async with world.services.db.read() as conn:
        rows = await conn.scalar(text("SELECT count(*) FROM ledger"))
        holds = await conn.scalar(text("SELECT count(*) FROM holds"))
    return int(rows or 0), int(holds or 0)


def seed_button(card: Any) -> str:
    [custom_id] = [c for c in custom_ids(card) if c.startswith(SEED_PREFIX)]
    return custom_id


async def seed_reply(world: SandboxWorld, card: Any, member: int, locale: str = "en-US") -> str:
    handle = await world.discord.click(card.id, seed_button(card), member, locale=locale)
    reply = await private_reply(world, handle)
    assert reply.ephemeral, reply.content
    return reply.content


@on_gateways("midjourney_seed")
async def test_the_seed_is_shown_privately_for_free_after_a_restart(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        alice = world.add_member("alice")
        bob = world.add_member("bob", locale="zh-TW")
        await run_slash(world, alice, "imagine", {"prompt": "a lighthouse"})
        grid = await finished_card(world)
        assert labels(grid)[-1] == "Seed"
        [row] = [r for r in grid.components if any(c["custom_id"] == seed_button(grid)
                                                   for c in r["components"])]  # fmt: skip
        assert len(row["components"]) == 1  # a row of its own, under U1–U4 and V1–V4
        await world.services.jobs.wait_idle()
        rows_before = await ledger_rows(world)

        await world.restart_bot()  # the button names only the job: it works after a restart
        job = await world.services.jobs.get(1)
        assert job is not None and job.upstream_id
        seed = seed_of(job.upstream_id)
        text = await seed_reply(world, grid, alice)
        assert f"The seed of this image is `{seed}`" in text and f"--seed {seed}" in text
        assert f"這張圖片的種子值是 `{seed}`" in await seed_reply(world, grid, bob, "zh-TW")
        calls = world.upstream.requests_to(f"/mj/task/{job.upstream_id}/image-seed")
        assert [c.method for c in calls] == ["GET", "GET"]
        # Free, as at the gateway: no hold, no ledger row, the balance as it was.
        assert await balance(world) == 1000 - 20
        assert await ledger_rows(world) == rows_before
        assert await world.services.ledger.check() == []


async def test_an_upscale_has_a_seed_too_and_its_own() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a harbour"})
        grid = await finished_card(world)
        press = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await press.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        job = await world.services.jobs.get(2)
        assert job is not None and job.upstream_id
        assert f"`{seed_of(job.upstream_id)}`" in await seed_reply(world, upscale, member)
        assert await balance(world) == 1000 - 20 - 10


async def test_a_seed_the_proxy_cannot_find_is_told_and_costs_nothing() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a harbour"})
        grid = await finished_card(world)
        world.upstream.midjourney.seed_error = "未找到 seed"  # Midjourney never sent it
        text = await seed_reply(world, grid, member)
        assert text == "There is no seed for this image (未找到 seed). Nothing was charged."
        assert await balance(world) == 1000 - 20
        assert await world.services.ledger.check() == []


async def test_no_seed_button_where_discovery_found_no_seed_route() -> None:
    """novicezk's proxy has no image-seed route: its cards carry no Seed button."""
    config = {**CONFIG, "upstream": {"mj_auth": "mj-api-secret"}}
    async with SandboxWorld(config=config, upstream_profile="mj-novicezk") as world:
        await world.services.capabilities.refresh()
        assert not world.services.capabilities.served("midjourney_seed")
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"})
        grid = await finished_card(world)
        assert labels(grid) == ["U1", "U2", "U3", "U4", "Reroll", "V1", "V2", "V3", "V4"]


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_a_seed_button_on_a_gateway_without_the_route_is_refused_plainly(
    locale: str,
) -> None:
    """Pinned as served on novicezk (or a card made before discovery knew): the press meets
    the router's bare 404, and the member is told the gateway has no seeds; nothing moves."""
    config = {
        **CONFIG,
        "upstream": {"mj_auth": "mj-api-secret", "capabilities": {"served": ["midjourney_seed"]}},
    }
    async with SandboxWorld(config=config, upstream_profile="mj-novicezk") as world:
        member = world.add_member("alice", locale=locale)
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"}, locale=locale)
        grid = await finished_card(world)
        text = await seed_reply(world, grid, member, locale)
        words = {"en-US": "does not tell the seeds", "zh-CN": "不提供 Midjourney 图片的种子值"}
        assert words[locale] in text, text
        [call] = [r for r in command_requests(world) if r.path.endswith("/image-seed")]
        assert call.status == 404
        assert await balance(world) == 1000 - 20
        assert await world.services.ledger.check() == []


async def test_a_seed_button_is_refused_before_any_call_once_discovery_knows() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"})
        grid = await finished_card(world)
        await world.services.jobs.wait_idle()  # delivered: the restart does not show it again
        config = world.config
        assert config is not None
        pins = config.upstream.capabilities.model_copy(update={"not_served": ["midjourney_seed"]})
        upstream = config.upstream.model_copy(update={"capabilities": pins})
        world.config = config.model_copy(update={"upstream": upstream})
        await world.restart_bot()
        text = await seed_reply(world, grid, member)
        assert "does not tell the seeds of Midjourney images" in text
        assert not [r for r in world.upstream.records if r.path.endswith("/image-seed")]
