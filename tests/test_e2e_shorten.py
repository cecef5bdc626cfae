"""/shorten end to end: Midjourney's five shorter prompts, each button a normal paid /imagine."""

from __future__ import annotations

import pytest

from bot.sandbox.world import SandboxWorld
from tests.helpers import custom_ids, on_gateways, private_reply, run_slash
from tests.test_e2e_imagine import CONFIG, balance, finished_card

PROMPT = "a lighthouse on a cliff at dawn, oil painting, dramatic clouds"


@on_gateways("midjourney_shorten")
async def test_shorten_then_imagine_one_of_its_prompts_after_a_restart(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "shorten", {"prompt": PROMPT})
        assert "(10 credits held)" in (await private_reply(world, handle)).content
        shortened = await finished_card(world)
        [call] = [r for r in world.upstream.requests_to("/mj/submit/shorten") if r.method == "POST"]
        assert call.json == {"prompt": PROMPT, "botType": "MID_JOURNEY"}
        words = PROMPT.split()
        second = " ".join(words[: len(words) * 4 // 5])  # the sandbox's second option
        assert f"**2.** {second}\n" in shortened.content and "**5.**" in shortened.content
        assert shortened.content.startswith(f"🎨 **{PROMPT}** — <@{member}>")
        assert shortened.content.endswith("-# Midjourney · shorten · 10 credits")
        assert len(custom_ids(shortened)) == 5
        await world.services.jobs.wait_idle()
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and (hold.command, hold.amount, hold.actual) == (
            "mj_shorten", 10, 10
        )  # fmt: skip
        assert await balance(world) == 1000 - 10

        await world.restart_bot()  # the buttons are persistent: they work after a restart
        press = await world.discord.click(shortened.id, custom_ids(shortened)[1], member)
        await press.wait_response(timeout=5)
        assert "(20 credits held)" in (await private_reply(world, press)).content
        imagined = await finished_card(world, 1)
        assert imagined.attachments
        [imagine] = world.upstream.requests_to("/mj/submit/imagine")
        assert imagine.json["prompt"] == second
        await world.services.jobs.wait_idle()
        assert await balance(world) == 1000 - 10 - 20
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize(
    ("profile", "said"),
    [
        ("one-api", "does not offer Midjourney,"),  # no Midjourney at all
        # Midjourney without shorten: discovery tells once the bot reaches novicezk directly.
        ("mj-novicezk", "does not offer Midjourney's /shorten"),
    ],
)
async def test_shorten_is_refused_for_free_where_the_gateway_has_no_shorten(
    profile: str, said: str
) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        await world.services.capabilities.refresh()
        member = world.add_member("alice")
        handle = await run_slash(world, member, "shorten", {"prompt": PROMPT})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and said in reply.content
        assert [
            r for r in world.upstream.requests_to("/mj/submit/shorten") if r.method == "POST"
        ] == []
        assert await balance(world) == 1000
