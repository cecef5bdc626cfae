"""/imagine end to end: progress, grid and buttons, restarts, failures with refunds, modals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.discord.validation import walk_components
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.world import SandboxWorld
from bot.upstream.midjourney import data_uri
from tests.helpers import (
    FAST_CHAT,
    ManualClock,
    custom_ids,
    ever_showed,
    hold_until_shown,
    mj_actions,
    on_gateways,
    private_reply,
    restart_with,
    run_slash,
    wait_until,
)

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}


def cards(world: SandboxWorld) -> list[Message]:
    """The job cards members see in the channel (not the private acknowledgements)."""
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if not m.ephemeral and m.content.startswith(("🎨", "❌"))
    ]


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


@on_gateways("midjourney")
async def test_imagine_shows_progress_then_grid_with_nine_buttons(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        world.upstream.midjourney.clock = ManualClock()
        world.upstream.midjourney.durations = (0.05, 0.05, 0.6)
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "a red fox in snow"})
        ack = await private_reply(world, handle)
        assert ack.ephemeral and "job #1" in ack.content
        await hold_until_shown(world.upstream.midjourney, 0.4, lambda: ever_showed(world, "▓", "%"))
        card = await finished_card(world)
        contents = [content for _, content, _ in card.history]
        assert any("%" in c and "▓" in c for c in contents), contents
        # The upstream's preview is shown while it runs, and gives way to the result.
        previews = [e["image"]["url"] for _, _, embeds in card.history for e in embeds]
        assert previews and all("/mj/image/" in url and "?rand=" in url for url in previews)
        assert card.embeds == []
        assert card.content.endswith("-# Midjourney · imagine · 20 credits")
        [image] = card.attachments
        assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
        grid = ["U1", "U2", "U3", "U4", "Reroll", "V1", "V2", "V3", "V4"]
        # Then the bot's own Seed, where the gateway has seeds (not novicezk's proxy).
        assert labels(card)[:9] == grid and labels(card)[9:] in ([], ["Seed"])
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
    async with SandboxWorld(config=CONFIG) as world:
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

        await restart_with(world, "jobs", image_deadline=0.6 / 60)  # only this job times out
        mj.never_finish = True
        await run_slash(world, member, "imagine", {"prompt": "forever"})
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "20 credits refunded" in timed_out.content

        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


# Vary Region (a region first, then the prompt) is in tests/test_e2e_vary_region.py.
@pytest.mark.parametrize(("label", "custom_id"), [("Custom Zoom", "MJ::CustomZoom::")])
async def test_modal_actions_answer_code_21_then_complete(label: str, custom_id: str) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a castle"})
        grid = await finished_card(world)
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await handle.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        region = labels(upscale).index(label)
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
        assert (
            world.upstream.requests_to("/mj/submit/action")[-1]
            .json["customId"]
            .startswith(custom_id)
        )
        hold = await world.services.ledger.get_hold(f"job:{submitted.id}")
        assert (hold.command, hold.status) == ("mj_modal", "settled")
        assert await balance(world) == 1000 - 20 - 10 - 20


@pytest.mark.parametrize("limited_by", ["configured cap", "interaction's limit"])
async def test_oversized_result_is_posted_as_a_link(limited_by: str) -> None:
    cap = 2048 if limited_by == "configured cap" else 25 * 1024 * 1024
    async with SandboxWorld(
        config={**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": cap}}
    ) as world:
        if limited_by == "interaction's limit":
            # This guild lets the bot upload 3,000 bytes: its interactions say so.
            world.discord.set_attachment_size_limit(3000, guild_id=world.guild_id)
        world.upstream.midjourney.image_bytes = 4096
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "huge"})
        card = await finished_card(world)
        assert card.attachments == []
        assert "too large to upload" in card.content and "/mj/image/" in card.content
        assert len(mj_actions(card)) == 9
        assert handle.payload["attachment_size_limit"] == (3000 if cap > 4096 else 10 * 1024 * 1024)
        assert not [r for r in world.discord.records if r["status"] == 413]  # never tried


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


def modal_default(handle: InteractionHandle, custom_id: str = "prompt") -> str:
    """The prefilled text of a field of the modal the bot opened."""
    assert handle.modal is not None
    fields = walk_components(handle.modal["components"])
    return next(f.get("value", "") for f in fields if f.get("custom_id") == custom_id)


async def test_remix_waits_for_its_prompt_and_the_same_job_delivers() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.midjourney.remix = True  # V1 comes back with status MODAL
        alice, bob = world.add_member("alice"), world.add_member("bob")
        await run_slash(world, alice, "imagine", {"prompt": "a harbour"})
        grid = await finished_card(world)
        press = await world.discord.click(grid.id, custom_ids(grid)[5], alice)  # V1
        await press.wait_response(timeout=5)
        await wait_until(lambda: len(cards(world)) == 2 and bool(cards(world)[1].components))
        asking = cards(world)[1]
        assert "waits for the prompt of this remix" in asking.content
        assert labels(asking) == ["Remix prompt"]
        job = await world.services.jobs.get_by_key(str(press.id))
        assert (job.kind, job.status) == ("mj_variation", "awaiting")

        await world.restart_bot()  # the button is the job's: it works after a restart
        [answer] = custom_ids(asking)
        refused = await world.discord.click(asking.id, answer, bob)
        assert (
            "Only the member who started this job" in (await private_reply(world, refused)).content
        )
        opened = await world.discord.click(asking.id, answer, alice)
        await opened.wait_response(timeout=5)
        assert modal_default(opened) == "a harbour"  # the waiting task's own prompt
        assert opened.modal is not None
        sent = await world.discord.submit_modal(
            world.guild_id, world.channel_id, alice, opened.modal["custom_id"],
            {"prompt": "a harbour at dawn"},
        )  # fmt: skip
        assert "Prompt sent" in (await private_reply(world, sent)).content

        varied = await finished_card(world, 1)
        assert varied.id == asking.id and len(cards(world)) == 2  # the same job and card
        assert varied.attachments and "V1 · a harbour at dawn" in varied.content
        assert labels(varied)[:4] == ["U1", "U2", "U3", "U4"]
        [modal_call] = world.upstream.requests_to("/mj/submit/modal")
        assert modal_call.json == {"taskId": job.upstream_id, "prompt": "a harbour at dawn"}
        hold = await world.services.ledger.get_hold(f"job:{press.id}")
        assert (hold.user_id, hold.command, hold.status) == (alice, "mj_variation", "settled")
        assert await balance(world) == 1000 - 20 - 20
        assert await world.services.ledger.check() == []


PNGS = [sandbox_png(f"ref-{n}", False) for n in range(3)]


async def test_blend_sends_the_images_and_charges_the_blend_price() -> None:
    config = {**CONFIG, "pricing": {"actions": {"mj_blend": 15}}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        files = [(f"{name}.png", png, "image/png") for name, png in zip("abc", PNGS, strict=True)]
        options = {"dimensions": "PORTRAIT"}
        await run_slash(world, member, "blend", options, attachments=files)
        card = await finished_card(world)
        [call] = world.upstream.requests_to("/mj/submit/blend")
        assert call.json == {
            "base64Array": [data_uri(png) for png in PNGS],
            "dimensions": "PORTRAIT",
            "botType": "MID_JOURNEY",
        }
        assert "a.png + b.png + c.png" in card.content
        assert card.content.endswith("-# Midjourney · blend · 15 credits")
        [image] = card.attachments
        assert image.data.startswith(b"\x89PNG") and len(mj_actions(card)) == 9
        assert await balance(world) == 1000 - 15
        assert await world.services.ledger.check() == []


async def test_imagine_with_a_reference_image_in_niji() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(
            world, member, "imagine", {"prompt": "a fox", "niji": True},
            attachments=[("ref.png", PNGS[0], "image/png")],
        )  # fmt: skip
        await finished_card(world)
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        assert call.json == {
            "prompt": "a fox",
            "base64Array": [data_uri(PNGS[0])],
            "botType": "NIJI_JOURNEY",
        }


async def test_a_queued_job_tells_its_place_and_is_delivered() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.midjourney.queued = 3  # submits answer code 22
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "a quiet street"})
        ack = await private_reply(world, handle)
        assert "In the queue: 3 ahead of you." in ack.content
        card = await finished_card(world)
        assert card.attachments and len(mj_actions(card)) == 9
        assert await balance(world) == 980


@pytest.mark.parametrize(
    ("code", "description", "told"),
    [
        (9, "系统异常", "The service failed to start the job (系统异常). Try again in a moment"),
        (4, "prompt参数错误", "The service refused the request: prompt参数错误"),
    ],
)
async def test_codes_9_and_4_under_http_200_charge_nothing(
    code: int, description: str, told: str
) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.inject(
            "/mj/submit/imagine",
            200,
            {"code": code, "description": description, "result": None, "properties": {}},
        )
        member = world.add_member("alice")
        handle = await run_slash(world, member, "imagine", {"prompt": "a red kite"})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and told in reply.content
        assert "nothing was charged" in reply.content.lower()
        assert cards(world) == []
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_v1_and_reroll_start_new_jobs_priced_per_action() -> None:
    config = {**CONFIG, "pricing": {"actions": {"mj_variation": 17, "mj_reroll": 13}}}
    async with SandboxWorld(config=config) as world:
        alice, bob, carol = (world.add_member(n) for n in ("alice", "bob", "carol"))
        await run_slash(world, alice, "imagine", {"prompt": "a windmill"})
        grid = await finished_card(world)
        presses = []
        for presser, index in ((bob, 5), (carol, 4)):  # V1, then 🔄
            handle = await world.discord.click(grid.id, custom_ids(grid)[index], presser)
            await handle.wait_response(timeout=5)
            presses.append(handle)
        await finished_card(world, 1)
        await finished_card(world, 2)
        pressed = [r.json["customId"] for r in world.upstream.requests_to("/mj/submit/action")]
        assert sorted(c.split("::")[2] for c in pressed) == ["reroll", "variation"]
        assert any(c.startswith("MJ::JOB::variation::1::") for c in pressed)
        holds = [await world.services.ledger.get_hold(f"job:{h.id}") for h in presses]
        assert [(h.user_id, h.command, h.amount, h.status) for h in holds] == [
            (bob, "mj_variation", 17, "settled"),
            (carol, "mj_reroll", 13, "settled"),
        ]
        children = [await world.services.jobs.get_by_key(str(h.id)) for h in presses]
        assert [(c.kind, c.parent_id) for c in children] == [("mj_variation", 1), ("mj_reroll", 1)]
        assert await balance(world) == 1000 - 20 - 17 - 13
        assert await world.services.ledger.check() == []


def die_before_recording_a_card(world: SandboxWorld) -> asyncio.Event:
    """From now on the bot "dies" right after Discord made a job's card, before the job records
    it: the call hangs until the bot is stopped. The event is set when that happens."""
    died = asyncio.Event()

    async def dies(job_id: int, message_id: int) -> None:
        died.set()
        await asyncio.Event().wait()

    world.services.jobs.attach_message = dies  # type: ignore[method-assign]
    return died


async def test_a_card_posted_just_before_a_crash_is_not_posted_twice() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.midjourney.durations = (0.05, 0.05, 1.5)
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a paper boat"})
        await wait_until(lambda: bool(world.upstream.requests_to("/mj/task/list-by-condition")))
        [first] = cards(world)  # posted, recorded, and the task submitted
        died = die_before_recording_a_card(world)
        world.discord.delete_message(first.id)  # so the next edit posts the card anew
        await asyncio.wait_for(died.wait(), timeout=10)
        [reposted] = cards(world)
        await world.stop_bot()
        await world.start_bot()
        await wait_until(lambda: any("-# " in c.content for c in cards(world)), timeout=15)
        [card] = cards(world)
        assert card.id == reposted.id and "-# " in card.content
        assert card.attachments and (await world.services.jobs.get(1)).message_id == card.id
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_a_crash_before_the_first_card_is_recorded_leaves_one_card() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        died = die_before_recording_a_card(world)
        member = world.add_member("alice")
        await world.discord.slash(
            world.guild_id, world.channel_id, member, "imagine", {"prompt": "a kite"}
        )
        await asyncio.wait_for(died.wait(), timeout=10)
        [waiting] = cards(world)
        await world.stop_bot()
        await world.start_bot()  # the job never reached the upstream: refunded, and told so
        await wait_until(lambda: any("restarted" in c.content for c in cards(world)))
        assert [c.id for c in cards(world)] == [waiting.id]
        assert not world.upstream.requests_to("/mj/submit/imagine")
        assert await balance(world) == 1000
