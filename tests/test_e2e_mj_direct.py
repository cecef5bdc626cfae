"""Midjourney against midjourney-proxy reached directly, no gateway in front (upstream-api.md
§7): trueai-org's wants its secret in ``mj-api-secret`` (``Bearer sk-…`` never matches), and
novicezk's sends no buttons and has no action route, so U/V/reroll go through ``change``."""

from __future__ import annotations

import pytest

from bot.sandbox.world import SandboxWorld
from tests.helpers import custom_ids, private_reply, run_slash
from tests.test_e2e_imagine import CONFIG, balance, finished_card, labels


def with_mj_auth(mode: str) -> dict[str, dict[str, object]]:
    return {**CONFIG, "upstream": {"mj_auth": mode}}


@pytest.mark.parametrize("proxy", ["trueai", "novicezk"])
async def test_a_direct_proxy_is_sent_its_secret_as_mj_api_secret(proxy: str) -> None:
    async with SandboxWorld(config=with_mj_auth("mj-api-secret")) as world:
        world.upstream.midjourney.proxy = proxy  # type: ignore[assignment]
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a red fox"})
        card = await finished_card(world)
        assert card.attachments
        [submit] = world.upstream.requests_to("/mj/submit/imagine")
        assert submit.authorized and submit.status == 200
        assert await balance(world) == 980


async def test_auto_tries_bearer_then_mj_api_secret_once() -> None:
    async with SandboxWorld(config=with_mj_auth("auto")) as world:
        world.upstream.midjourney.proxy = "trueai"
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a red fox"})
        await finished_card(world)
        await run_slash(world, member, "imagine", {"prompt": "a grey wolf"})
        await finished_card(world, 1)
        submits = world.upstream.requests_to("/mj/submit/imagine")
        # The first submit is refused with Bearer and repeated; the second goes right away.
        assert [r.status for r in submits] == [401, 200, 200]
        assert await balance(world) == 960


async def test_bearer_on_trueai_is_refused_privately_and_costs_nothing() -> None:
    async with SandboxWorld(config=with_mj_auth("bearer")) as world:
        world.upstream.midjourney.proxy = "trueai"
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "a red fox"})
        reply = await private_reply(world, handle)
        assert "refused the bot's API key" in reply.content
        assert await balance(world) == 1000


async def test_novicezk_upscales_and_varies_through_change() -> None:
    async with SandboxWorld(config=with_mj_auth("mj-api-secret")) as world:
        world.upstream.midjourney.proxy = "novicezk"
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"})
        grid = await finished_card(world)
        grid_labels = ["U1", "U2", "U3", "U4", "Reroll", "V1", "V2", "V3", "V4"]
        assert labels(grid) == [*grid_labels, "Seed"]  # the proxy set by hand: discovery
        # read the union's gateway, which has the seed route
        handle = await world.discord.click(grid.id, custom_ids(grid)[1], member)  # U2
        await handle.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        assert upscale.attachments and "U2 · a lighthouse" in upscale.content
        handle = await world.discord.click(grid.id, custom_ids(grid)[7], member)  # V3
        await handle.wait_response(timeout=5)
        await finished_card(world, 2)
        changes = [r.json for r in world.upstream.requests_to("/mj/submit/change")]
        task_id = changes[0]["taskId"]
        assert changes == [
            {"taskId": task_id, "action": "UPSCALE", "index": 2},
            {"taskId": task_id, "action": "VARIATION", "index": 3},
        ]
        assert not world.upstream.requests_to("/mj/submit/action")
        assert await balance(world) == 1000 - 20 - 10 - 20
