"""/imagine end to end: progress, grid and buttons, restarts, failures with refunds, modals."""

from __future__ import annotations

from typing import Any

from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, private_reply, run_slash, wait_until

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}


def cards(world: SandboxWorld) -> list[Message]:
    """The job cards members see in the channel (not the private acknowledgements)."""
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if not m.ephemeral and m.content.startswith(("🎨", "❌"))
    ]


def custom_ids(message: Message) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row["components"]]


def labels(message: Message) -> list[str]:
    return [
        c.get("label") or c.get("emoji", {}).get("name")
        for row in message.components
        for c in row["components"]
    ]


async def finished_card(world: SandboxWorld, index: int = 0) -> Message:
    def done() -> bool:
        shown = cards(world)
        return len(shown) > index and ("-# " in shown[index].content)

    await wait_until(done, timeout=15)
    return cards(world)[index]


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


async def test_imagine_shows_progress_then_grid_with_nine_buttons() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.midjourney.durations = (0.05, 0.05, 0.6)
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "a red fox in snow"})
        ack = await private_reply(world, handle)
        assert ack.ephemeral and "job #1" in ack.content
        card = await finished_card(world)
        contents = [content for _, content, _ in card.history]
        assert any("%" in c and "▓" in c for c in contents), contents
        assert card.content.endswith("-# Midjourney · imagine · 20 credits")
        [image] = card.attachments
        assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
        assert labels(card) == ["U1", "U2", "U3", "U4", "Reroll", "V1", "V2", "V3", "V4"]
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_u2_after_restart_produces_the_upscale_and_new_buttons() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        presser = world.add_member("bob", locale="zh-CN")
        await run_slash(world, member, "imagine", {"prompt": "a lighthouse"})
        grid = await finished_card(world)
        await world.restart_bot()
        handle = await world.discord.click(grid.id, custom_ids(grid)[1], presser, locale="zh-CN")
        await handle.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        assert "U2 · a lighthouse" in upscale.content
        assert upscale.attachments and "放大（细微）" in labels(upscale)
        [press] = world.upstream.requests_to("/mj/submit/action")
        assert press.json["customId"].startswith("MJ::JOB::upsample::2::")
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert (hold.user_id, hold.command, hold.status) == (presser, "mj_upscale", "settled")
        assert await balance(world) == 1000 - 20 - 10


async def test_job_killed_mid_flight_is_delivered_and_charged_once_after_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.midjourney.durations = (0.05, 0.05, 1.0)
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "slow one"})
        await wait_until(lambda: bool(world.upstream.requests_to("/mj/task/list-by-condition")))
        await world.stop_bot()  # the process dies while the task runs upstream
        await world.start_bot()
        card = await finished_card(world)
        await world.restart_bot()  # and once more after delivery: nothing is shown twice
        await wait_until(lambda: len(world.upstream.requests_to("/mj/task/list-by-condition")) > 0)
        assert len(cards(world)) == 1
        assert len(card.attachments) == 1
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_refusals_and_failures_refund_in_full_with_a_clear_message() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "image_deadline": 0.6 / 60}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        mj = world.upstream.midjourney

        handle = await run_slash(world, member, "imagine", {"prompt": "lots of gore"})
        reply = await private_reply(world, handle)
        assert "**gore**" in reply.content and "Nothing was charged" in reply.content

        mj.queue_full = True
        handle = await run_slash(world, member, "imagine", {"prompt": "a calm lake"})
        reply = await private_reply(world, handle)
        assert "queue is full" in reply.content
        mj.queue_full = False
        assert cards(world) == []  # a refused job leaves no card behind

        mj.fail_next = "Job failed: moderation"
        await run_slash(world, member, "imagine", {"prompt": "a tree"})
        failed = await finished_card(world)
        assert failed.content.startswith("❌") or "❌" in failed.content
        assert "moderation" in failed.content and "20 credits refunded" in failed.content

        mj.never_finish = True
        await run_slash(world, member, "imagine", {"prompt": "forever"})
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "20 credits refunded" in timed_out.content

        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_vary_region_opens_a_modal_and_completes() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a castle"})
        grid = await finished_card(world)
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await handle.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        region = labels(upscale).index("Vary (Region)")
        handle = await world.discord.click(upscale.id, custom_ids(upscale)[region], member)
        await handle.wait_response(timeout=5)
        assert handle.modal is not None
        modal_id = handle.modal["custom_id"]
        submitted = await world.discord.submit_modal(
            world.guild_id, world.channel_id, member, modal_id, {"prompt": "a castle with a moat"}
        )
        await submitted.wait_response(timeout=5)
        varied = await finished_card(world, 2)
        assert varied.attachments
        [modal_call] = world.upstream.requests_to("/mj/submit/modal")
        assert modal_call.json["prompt"] == "a castle with a moat"
        assert await balance(world) == 1000 - 20 - 10 - 20


async def test_oversized_result_is_posted_as_a_link() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        world.upstream.midjourney.image_bytes = 4096
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "huge"})
        card = await finished_card(world)
        assert card.attachments == []
        assert "too large to upload" in card.content and "/mj/image/" in card.content
        assert len(custom_ids(card)) == 9


async def test_forged_and_foreign_button_presses_are_refused() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a boat"})
        grid = await finished_card(world)
        async with world.services.db.transaction() as conn:
            await conn.exec_driver_sql("UPDATE jobs SET guild_id = 1 WHERE id = 1")
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)
        await handle.wait_response(timeout=5)
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "no longer exists" in reply.content
        assert await balance(world) == 980


async def test_describe_then_imagine_a_suggested_prompt() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
        await run_slash(world, member, "describe", attachments=[("photo.png", png, "image/png")])
        described = await finished_card(world)
        assert "**1.**" in described.content and "**4.**" in described.content
        handle = await world.discord.click(described.id, custom_ids(described)[2], member)
        await handle.wait_response(timeout=5)
        imagined = await finished_card(world, 1)
        assert imagined.attachments
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        assert call.json["prompt"] in described.content
