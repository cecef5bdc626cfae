"""Results whose links the gateway builds from its ServerAddress (upstream-api.md §7): they may
name another host or scheme (by default http://localhost:3000), and are fetched on the base URL
the bot was given, the only host its key goes to. And Midjourney cards from current Midjourney:
only the buttons the gateway relays."""

from __future__ import annotations

import pytest

from bot.sandbox.world import SandboxWorld
from tests.helpers import custom_ids, run_slash
from tests.test_e2e_imagine import CONFIG as MJ_CONFIG
from tests.test_e2e_imagine import balance as mj_balance
from tests.test_e2e_imagine import finished_card as mj_card
from tests.test_e2e_imagine import labels
from tests.test_e2e_video import CONFIG, VEO, balance, finished_card, make_video

SERVER_ADDRESSES = ["http://localhost:3000", "https://gateway.example.com"]


@pytest.mark.parametrize("address", SERVER_ADDRESSES)
async def test_a_server_address_video_link_is_fetched_through_the_base_url(address: str) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.video.unified_form = "proxy"
        world.upstream.video.server_address = address
        member = world.add_member("alice")
        await make_video(world, member, VEO, False)
        card = await finished_card(world)
        [video] = card.attachments
        assert video.data[4:8] == b"ftyp"
        [content] = [r for r in world.upstream.records if r.path.endswith("/content")]
        assert content.authorized and content.status == 200  # on the sandbox, with the key
        assert await balance(world) == 900
        assert await world.services.ledger.check() == []


@pytest.mark.parametrize("address", SERVER_ADDRESSES)
async def test_a_forwarded_midjourney_image_link_is_fetched_through_the_base_url(
    address: str,
) -> None:
    async with SandboxWorld(config=MJ_CONFIG) as world:
        world.upstream.midjourney.server_address = address
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a red fox"})
        card = await mj_card(world)
        [image] = card.attachments
        assert image.data.startswith(b"\x89PNG")
        [fetched] = [r for r in world.upstream.records if r.path.startswith("/mj/image/")]
        assert fetched.status == 200
        assert await mj_balance(world) == 980


async def test_an_upscale_shows_only_the_buttons_the_gateway_relays() -> None:
    async with SandboxWorld(config=MJ_CONFIG) as world:
        world.upstream.midjourney.current_buttons = True  # Animate and ❤️, as Midjourney today
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a castle"})
        grid = await mj_card(world)
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await handle.wait_response(timeout=5)
        upscale = await mj_card(world, 1)
        # Atelier's own Animate (a video job of its own) is not Midjourney's animate_* button.
        ours = [i for i, c in enumerate(custom_ids(upscale)) if c.startswith("atelier:anim")]
        shown = [label for i, label in enumerate(labels(upscale)) if i not in ours]
        assert len(ours) == 2
        assert not any("Animate" in str(label) for label in shown)
        assert "❤️" not in shown
        assert "Vary (Region)" in shown and "Upscale (Subtle)" in shown
        # The twelve new-api relays, none of the three it refuses; then the bot's Seed and style.
        assert len(shown) == 12 + 2 and shown[-2:] == ["Seed", "Use as style"]
        assert await mj_balance(world) == 1000 - 20 - 10
