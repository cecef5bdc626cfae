"""/admin upstream and the operators' low-balance alert in the gateway's own unit: a site that
displays yuan fills the ``*_usd`` billing fields in yuan (upstream-api.md §7)."""

from __future__ import annotations

from bot.sandbox.world import SandboxWorld
from tests.helpers import private_reply, run_slash, wait_until
from tests.test_e2e_credit_admin import CONFIG


async def test_a_cny_balance_is_shown_in_yuan_with_the_right_amount() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.billing.display_unit = "CNY"  # 7.3 yuan per US$1
        handle = await run_slash(world, world.owner_id, "admin upstream", {})
        reply = await private_reply(world, handle)
        # 25 − 12.345 = 12.655 dollars = 92.38 yuan, of 182.50 (used 90.12): not "$92.38".
        assert "**¥92.38** remaining of ¥182.50 (used ¥90.12)" in reply.content
        assert "$" not in reply.content


async def test_a_tokens_site_is_shown_in_tokens() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.billing.display_unit = "TOKENS"
        handle = await run_slash(world, world.owner_id, "admin upstream", {}, locale="zh-CN")
        reply = await private_reply(world, handle)
        assert "6,327,500 额度" in reply.content and "$" not in reply.content


async def test_the_alert_threshold_is_compared_in_the_sites_unit() -> None:
    # US$20 is 146 yuan: 92.38 yuan left is below it (compared as dollars, 92.38 is not).
    admin = {"upstream_alert_usd": 20.0, "upstream_check_minutes": 0.002}
    world = SandboxWorld(config={**CONFIG, "admin": admin})
    world.upstream.billing.display_unit = "CNY"  # before the bot's first check
    async with world:
        dms = world.discord.store.dm_channel(world.owner_id).id
        await wait_until(lambda: bool(world.discord.messages(dms)))
        [alert] = world.discord.messages(dms)
        assert "¥92.38 left (alert below ¥146.00)" in alert.content
