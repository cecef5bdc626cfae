"""Credit administration end to end: grants, caps, cooldowns, alerts, reports, moderation."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.reports import Reports
from bot.sandbox.discord.permissions import MANAGE_GUILD
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    edited,
    final_answer,
    private_reply,
    run_answered,
    run_slash,
    wait_until,
)

PER_CALL = {"chat": [{"pattern": "*", "per_call": 10}]}
# Floods here test admins' caps alone: the built-in per-member limit would refuse them first.
CONFIG: dict[str, Any] = {
    "chat": FAST_CHAT,
    "pricing": PER_CALL,
    "limits": {"requests_per_minute": 0, "concurrent": 0},
}


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


async def test_grant_is_for_operators_only() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        admin = world.add_member("admin", permissions=MANAGE_GUILD)
        handle = await run_slash(world, admin, "credit grant", {"amount": 500})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "operators" in reply.content
        assert await balance(world) == 1000

        handle = await run_slash(
            world, world.owner_id, "credit grant", {"amount": 500, "note": "gift"}
        )
        reply = await private_reply(world, handle)
        assert "**1,500**" in reply.content
        lines, _ = await Reports(world.services.db).history(world.guild_id, kind="grant")
        assert [(line.amount, line.user_id, line.note) for line in lines] == [
            (500, world.owner_id, "gift")
        ]

        handle = await run_slash(world, world.owner_id, "credit set", {"amount": 42})
        assert "**42**" in (await private_reply(world, handle)).content
        assert await balance(world) == 42
        assert await world.services.ledger.check() == []


async def test_capped_member_is_refused_exactly_at_the_cap_under_concurrency() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("eager")
        handle = await run_slash(
            world, world.owner_id, "credit limit", {"target": member, "amount": 100}
        )
        assert "100" in (await private_reply(world, handle)).content

        async def ask(n: int) -> Any:
            handle = await world.discord.slash(
                world.guild_id, world.channel_id, member, "gpt",
                options={"prompt": f"question {n}", "private": True},
            )  # fmt: skip
            await handle.wait_response(timeout=10)
            return handle

        handles = await asyncio.gather(*(ask(n) for n in range(50)))
        replies = [await private_reply(world, h) for h in handles]
        refused = [r for r in replies if "daily limit" in r.content]
        assert len(refused) == 40
        await wait_until(lambda: len(world.upstream.requests_to("/v1/chat/completions")) == 10)
        for handle in handles:
            messages = world.discord.interaction_messages(handle)
            if "daily limit" not in messages[0].content:
                await final_answer(world, handle)
        assert await balance(world) == 1000 - 100
        handle = await run_slash(world, member, "credit balance")
        assert "**0** of 100" in (await private_reply(world, handle)).content
        assert await world.services.ledger.check() == []


async def test_role_cap_applies_and_lowest_cap_wins() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        role = world.discord.add_role(world.guild_id, "trial")
        member = world.add_member("newbie", roles=[role])
        await run_answered(world, world.owner_id, "credit limit", {"target": role, "amount": 10})
        await run_answered(world, world.owner_id, "credit limit", {"target": member, "amount": 50})
        handle = await run_slash(world, member, "gpt", {"prompt": "one", "private": True})
        await final_answer(world, handle)
        handle = await run_slash(world, member, "gpt", {"prompt": "two", "private": True})
        assert "daily limit" in (await private_reply(world, handle)).content

        handle = await run_slash(world, world.owner_id, "credit limit-clear", {})
        assert "2" in (await private_reply(world, handle)).content
        handle = await run_slash(world, member, "gpt", {"prompt": "three", "private": True})
        assert (await final_answer(world, handle))[-1].content.startswith("Echo")


async def test_cooldown_applies_per_member() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member, other = world.add_member("fast"), world.add_member("other")
        await run_answered(
            world, world.owner_id, "credit cooldown", {"command": "gpt", "seconds": 60}
        )
        handle = await run_slash(world, member, "gpt", {"prompt": "a", "private": True})
        await final_answer(world, handle)
        handle = await run_slash(world, member, "gpt", {"prompt": "b", "private": True})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "wait" in reply.content and "/gpt" in reply.content
        handle = await run_slash(world, other, "gpt", {"prompt": "c", "private": True})
        await final_answer(world, handle)
        assert await balance(world) == 1000 - 20


async def test_low_balance_alert_posts_once() -> None:
    async with SandboxWorld(config={**CONFIG, "credit": {"starting_balance": 45}}) as world:
        alerts = world.discord.add_channel(world.guild_id, "alerts")
        member = world.add_member("spender")
        await run_answered(
            world, world.owner_id, "credit alert", {"channel": alerts, "threshold": 30}
        )
        for n in range(3):
            handle = await run_slash(world, member, "gpt", {"prompt": f"q{n}", "private": True})
            await final_answer(world, handle)
        await wait_until(lambda: len(world.discord.messages(alerts)) >= 1)
        await asyncio.sleep(0.2)  # give a wrong second notice the chance to show up
        [notice] = world.discord.messages(alerts)
        assert "running low" in notice.content and "**25**" in notice.content


async def test_history_and_usage_paginate_and_chart_attaches() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        members = [world.add_member(f"m{n}") for n in range(3)]
        for n in range(12):
            handle = await run_slash(
                world, members[n % 3], "gpt", {"prompt": f"q{n}", "private": True}
            )
            await final_answer(world, handle)
        plain = world.add_member("plain")
        handle = await run_slash(world, plain, "credit history", {})
        assert "Manage Server" in (await private_reply(world, handle)).content

        handle = await run_slash(world, world.owner_id, "credit history", {})
        [page] = world.discord.interaction_messages(handle)
        assert "1 of 2" in page.embeds[0]["footer"]["text"]
        next_button = page.components[0]["components"][1]["custom_id"]
        await world.restart_bot()
        before = page.edited_at
        click = await world.discord.click(page.id, next_button, world.owner_id)
        await click.wait_response(timeout=5)
        page = await edited(world, page.id, before)
        assert "2 of 2" in page.embeds[0]["footer"]["text"]

        handle = await run_slash(world, world.owner_id, "credit usage", {"days": 7})
        await wait_until(lambda: bool(world.discord.interaction_messages(handle)[0].attachments))
        report = world.discord.interaction_messages(handle)[0]
        assert report.attachments[0].filename == "usage.png"
        assert report.attachments[0].data.startswith(b"\x89PNG")
        fields = {f["name"]: f["value"] for f in report.embeds[0]["fields"]}
        assert fields["By command"] == "gpt — 120"
        assert fields["By model"] == "gpt-4o-mini — 120"
        assert fields["By member"].count("— 40") == 3


async def test_moderation_refuses_flagged_prompts_free_and_logs_them() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        log_channel = world.discord.add_channel(world.guild_id, "mod-log")
        member = world.add_member("edgy")
        turned_on = await run_slash(world, world.owner_id, "admin moderation",
                                    {"enabled": True, "log_channel": log_channel})  # fmt: skip
        await private_reply(world, turned_on)
        handle = await run_slash(world, member, "gpt", {"prompt": "how to kill a process"})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "violence" in reply.content
        handle = await run_slash(world, member, "imagine", {"prompt": "kill it"})
        assert "violence" in (await private_reply(world, handle)).content
        assert world.upstream.requests_to("/v1/chat/completions") == []
        assert world.upstream.requests_to("/mj/submit/imagine") == []
        assert await balance(world) == 1000
        await wait_until(lambda: len(world.discord.messages(log_channel)) == 2)
        assert "kill a process" in world.discord.messages(log_channel)[0].content

        handle = await run_slash(world, member, "gpt", {"prompt": "hello", "private": True})
        await final_answer(world, handle)
        assert await balance(world) == 990


async def test_upstream_balance_for_operators_only() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("curious", permissions=MANAGE_GUILD)
        handle = await run_slash(world, member, "admin upstream", {})
        assert "operators" in (await private_reply(world, handle)).content
        handle = await run_slash(world, world.owner_id, "admin upstream", {})
        reply = await private_reply(world, handle)
        assert "**$12.65** remaining of $25.00 (used $12.35)" in reply.content


async def test_grant_refuses_anything_but_a_server_id() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        other = world.discord.add_guild(name="Other")
        for value, locale, refusal in (
            ("12abc", "en-US", "`12abc` is not a server ID"),
            ("１２３", "zh-CN", "`１２３` 不是服务器 ID"),  # full-width digits pass str.isdigit()
            ("99999999999999999999", "en-US", "is not a server ID"),  # beyond a snowflake
            ("0", "en-US", "is not a server ID"),
            ("-5", "en-US", "is not a server ID"),
        ):
            handle = await run_slash(world, world.owner_id, "credit grant",
                                     {"amount": 500, "guild_id": value}, locale=locale)  # fmt: skip
            reply = await private_reply(world, handle)
            assert reply.ephemeral and refusal in reply.content, (value, reply.content)
        assert await balance(world) == 1000
        reports = Reports(world.services.db)
        assert (await reports.history(world.guild_id, kind="grant"))[1] == 0

        handle = await run_slash(world, world.owner_id, "credit grant",
                                 {"amount": 500, "guild_id": f" {other.id} "})  # fmt: skip
        assert f"server `{other.id}`" in (await private_reply(world, handle)).content
        assert await world.services.ledger.balance(other.id) == 1500
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_set_while_a_hold_is_open_lands_exactly() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.chat.reply = "slow words " * 40
        world.upstream.chat.pace = 0.02
        member = world.add_member("streamer")
        answer = await run_slash(world, member, "gpt", {"prompt": "go", "private": True})
        await wait_until(lambda: world.bot.work.running == 1)
        assert await balance(world) == 990  # the answer's hold is out of the balance

        handle = await run_slash(world, world.owner_id, "credit set", {"amount": 500})
        assert "**500**" in (await private_reply(world, handle)).content
        assert await balance(world) == 500
        await final_answer(world, answer)
        assert await balance(world) == 500  # the per-call price was held and charged in full
        lines, _ = await Reports(world.services.db).history(world.guild_id, kind="grant")
        assert [(line.amount, line.user_id) for line in lines] == [(-490, world.owner_id)]
        assert await world.services.ledger.check() == []


async def test_limit_clear_by_a_non_admin_changes_nothing() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("capped")
        await run_answered(world, world.owner_id, "credit limit", {"target": member, "amount": 10})
        handle = await run_slash(world, member, "credit limit-clear", {})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "Manage Server" in reply.content
        assert (await world.services.policies.get(world.guild_id)).limits == [
            ("member", member, 10)
        ]
        await final_answer(world, await run_slash(world, member, "gpt",
                                                  {"prompt": "a", "private": True}))  # fmt: skip
        handle = await run_slash(world, member, "gpt", {"prompt": "b", "private": True})
        assert "daily limit" in (await private_reply(world, handle)).content


async def test_low_upstream_balance_is_sent_to_the_operators_once() -> None:
    admin = {"upstream_alert_usd": 20.0, "upstream_check_minutes": 0.002}  # every 0.12 s
    async with SandboxWorld(config={**CONFIG, "admin": admin}) as world:
        billing = world.upstream.billing
        dms = world.discord.store.dm_channel(world.owner_id).id

        def checks() -> int:
            return len(world.upstream.requests_to("/v1/dashboard/billing/subscription"))

        async def more_checks(count: int = 3) -> None:
            seen = checks()
            await wait_until(lambda: checks() >= seen + count)

        await wait_until(lambda: bool(world.discord.messages(dms)))
        await more_checks()  # still low: no second message
        [alert] = world.discord.messages(dms)
        assert "$12.65" in alert.content and "$20.00" in alert.content

        billing.hard_limit_usd = 100.0  # topped up: the alert re-arms …
        await more_checks()
        assert len(world.discord.messages(dms)) == 1
        billing.hard_limit_usd = 25.0  # … and fires again when it runs low again
        await wait_until(lambda: len(world.discord.messages(dms)) == 2)
        await more_checks()
        assert len(world.discord.messages(dms)) == 2
