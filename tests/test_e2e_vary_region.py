"""Vary Region end to end: the member picks a region (no drawing), writes the prompt, and the
proxy gets a ``maskBase64`` PNG of the image's size with that region white (upstream-api.md §7);
the sandbox, like the proxy, refuses an inpaint without one."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from bot.sandbox.upstream.png import SANDBOX_SIDE
from bot.sandbox.world import SandboxWorld
from tests.helpers import custom_ids, private_reply, run_slash
from tests.test_e2e_imagine import CONFIG, balance, finished_card, labels


async def pick_region(world: SandboxWorld, member: int, region: str, locale: str = "en-US") -> int:
    """Imagine, upscale, press Vary (Region), pick ``region``, send a prompt; the modal's id."""
    await run_slash(world, member, "imagine", {"prompt": "a castle"}, locale=locale)
    grid = await finished_card(world)
    handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
    await handle.wait_response(timeout=5)
    upscale = await finished_card(world, 1)
    button = custom_ids(upscale)[labels(upscale).index("Vary (Region)")]
    pressed = await world.discord.click(upscale.id, button, member, locale=locale)
    menu = await private_reply(world, pressed)
    assert menu.ephemeral and pressed.modal is None  # the region first, privately
    [select] = custom_ids(menu)
    chosen = await world.discord.click(menu.id, select, member, values=[region], locale=locale)
    await chosen.wait_response(timeout=5)
    assert chosen.modal is not None
    submitted = await world.discord.submit_modal(
        world.guild_id, world.channel_id, member, chosen.modal["custom_id"],
        {"prompt": "a castle with a moat"},
    )  # fmt: skip
    await submitted.wait_response(timeout=5)
    return submitted.id


@pytest.mark.parametrize(
    ("region", "white", "black"),
    [
        ("left", (5, 30), (60, 30)),
        ("bottom_right", (60, 60), (5, 5)),
        ("centre", (32, 32), (2, 2)),
    ],
)
async def test_vary_region_sends_a_mask_of_the_chosen_region(
    region: str, white: tuple[int, int], black: tuple[int, int]
) -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        modal_id = await pick_region(world, member, region)
        varied = await finished_card(world, 2)
        assert varied.attachments
        [call] = world.upstream.requests_to("/mj/submit/modal")
        assert call.json["prompt"] == "a castle with a moat"
        kind, _, data = call.json["maskBase64"].partition(";base64,")
        assert kind == "data:image/png"
        mask = Image.open(io.BytesIO(base64.b64decode(data)))
        assert mask.size == (SANDBOX_SIDE, SANDBOX_SIDE)  # the image's own size
        assert mask.getpixel(white) == 255 and mask.getpixel(black) == 0
        hold = await world.services.ledger.get_hold(f"job:{modal_id}")
        assert hold is not None and (hold.command, hold.status) == ("mj_modal", "settled")
        assert await balance(world) == 1000 - 20 - 10 - 20


async def test_the_region_menu_is_in_the_members_language() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("lin", locale="zh-CN")
        await run_slash(world, member, "imagine", {"prompt": "a castle"}, locale="zh-CN")
        grid = await finished_card(world)
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member, locale="zh-CN")
        await handle.wait_response(timeout=5)
        upscale = await finished_card(world, 1)
        button = custom_ids(upscale)[labels(upscale).index("局部重绘")]
        pressed = await world.discord.click(upscale.id, button, member, locale="zh-CN")
        menu = await private_reply(world, pressed)
        assert "局部重绘要重画图片的哪一部分" in menu.content
        [row] = menu.components
        options = [o["label"] for o in row["components"][0]["options"]]
        assert options[:2] == ["左半边", "右半边"] and options[-1] == "中央"


async def test_a_member_with_a_mask_uploads_it_with_vary_region() -> None:
    # Left half white, as the member drew it, at twice the image's size: it is fitted.
    drawn = Image.new("L", (128, 128), 0)
    drawn.paste(255, (0, 0, 64, 128))
    upload = io.BytesIO()
    drawn.save(upload, format="PNG")
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a castle"})
        grid = await finished_card(world)
        handle = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await handle.wait_response(timeout=5)
        await finished_card(world, 1)
        upscale_job = 2
        handle = await run_slash(
            world, member, "vary-region", {"job": upscale_job, "prompt": "a moat"},
            attachments=[("mask.png", upload.getvalue(), "image/png")],
        )  # fmt: skip
        ack = await private_reply(world, handle)
        assert "job #3" in ack.content
        await finished_card(world, 2)
        [call] = world.upstream.requests_to("/mj/submit/modal")
        assert call.json["prompt"] == "a moat"
        mask = Image.open(io.BytesIO(base64.b64decode(call.json["maskBase64"].split(",", 1)[1])))
        assert mask.size == (SANDBOX_SIDE, SANDBOX_SIDE)
        assert mask.getpixel((5, 30)) == 255 and mask.getpixel((60, 30)) == 0
        assert await balance(world) == 1000 - 20 - 10 - 20

        # Not an image, or a job without Vary Region: said privately, nothing charged.
        handle = await run_slash(
            world, member, "vary-region", {"job": 1},
            attachments=[("notes.txt", b"hello", "text/plain")],
        )  # fmt: skip
        assert "`notes.txt` is not an image" in (await private_reply(world, handle)).content
        handle = await run_slash(
            world, member, "vary-region", {"job": 1},
            attachments=[("mask.png", upload.getvalue(), "image/png")],
        )  # fmt: skip
        assert "has no Vary Region button" in (await private_reply(world, handle)).content
        assert await balance(world) == 1000 - 20 - 10 - 20
