"""/imagine with reference images end to end: image prompts, style and character references
mapped to the version's parameters, bad combinations refused free, and "Use as style"."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp

from bot.sandbox.discord import Message
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.world import SandboxWorld
from bot.upstream.midjourney import data_uri
from tests.helpers import custom_ids, private_reply, restart_with, run_slash, wait_until
from tests.test_e2e_imagine import CONFIG, balance, cards, finished_card, labels

PNGS = [sandbox_png(f"reference-{n}", False) for n in range(4)]


def png(name: str, n: int = 0) -> tuple[str, bytes, str]:
    return (f"{name}.png", PNGS[n], "image/png")


def unsigned(url: str) -> str:
    """A Discord CDN link without its signature (``?ex=…&is=…&hm=…&``): the stored one."""
    return url.split("?", 1)[0]


def link_of(prompt: str, parameter: str) -> str:
    """The value of ``--parameter`` in ``prompt``."""
    match = re.search(rf"--{parameter} (\S+)", prompt)
    assert match, (parameter, prompt)
    return match[1]


async def test_image_prompts_style_and_character_on_v6() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        options: dict[str, Any] = {
            "prompt": "a knight in a forest --v 6.1",
            "image": png("first", 0),
            "image2": png("second", 1),
            "style": png("style", 2),
            "character": png("hero", 3),
            "style_weight": 250,
            "character_weight": 80,
        }
        handle = await run_slash(world, member, "imagine", options)
        assert "job #1" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        assert call.json["base64Array"] == [data_uri(PNGS[0]), data_uri(PNGS[1])]
        prompt = call.json["prompt"]
        style, hero = link_of(prompt, "sref"), link_of(prompt, "cref")
        assert (
            prompt == f"a knight in a forest --v 6.1 --sref {style} --sw 250 --cref {hero} --cw 80"
        )
        assert unsigned(style).endswith("/style.png") and unsigned(hero).endswith("/hero.png")
        # The links are the attachments' own, and they open (Midjourney fetches them).
        async with aiohttp.ClientSession() as http:
            for link, data in ((style, PNGS[2]), (hero, PNGS[3])):
                async with http.get(link) as resp:
                    assert resp.status == 200 and await resp.read() == data
        [task] = world.upstream.midjourney.tasks.values()
        assert task.reading is not None and task.refused is None
        assert (task.reading.version, task.reading.references) == (
            "6.1",
            {"sref": [style], "cref": [hero]},
        )
        assert task.reading.weights == {"sw": "250", "cw": "80"}
        # The proxy uploaded both image prompts and put their links first.
        assert len(task.uploads) == 2 and task.prompt.startswith(" ".join(task.uploads))
        assert card.attachments and "a knight in a forest" in card.content
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_character_becomes_an_omni_reference_on_the_default_v7() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        options = {"prompt": "a robot", "character": png("bot"), "character_weight": 400}
        await run_slash(world, member, "imagine", options)
        await finished_card(world)
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        link = link_of(call.json["prompt"], "oref")
        # No version in the prompt: the configured default is named, so V7 is what runs.
        assert call.json["prompt"] == f"a robot --oref {link} --ow 400 --v 7"
        assert call.json["base64Array"] == []
        [task] = world.upstream.midjourney.tasks.values()
        assert task.reading is not None and task.reading.references == {"oref": [link]}
        assert task.refused is None and await balance(world) == 980


async def refused(world: SandboxWorld, member: int, options: dict[str, Any], **kw: Any) -> str:
    handle = await run_slash(world, member, "imagine", options, **kw)
    reply = await private_reply(world, handle)
    assert reply.ephemeral
    return reply.content


async def test_bad_combinations_are_refused_privately_and_free() -> None:
    config = {**CONFIG, "image": {"reference_max_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        big = ("big.png", sandbox_png("big", False, 4096), "image/png")
        told = [
            await refused(world, member, {"prompt": "a cat --v 5.2", "character": png("c")}),
            await refused(world, member, {"prompt": "a cat --v 5.2", "style": png("s")}),
            await refused(world, member, {"prompt": "a cat --cref http://x/a.png --v 7"}),
            await refused(
                world,
                member,
                {"prompt": "a cat --v 6", "character": png("c"), "character_weight": 150},
            ),
            await refused(world, member, {"prompt": "a cat", "style_weight": 100}),
            await refused(world, member, {"prompt": "a cat --sref 123", "style": png("s")}),
            await refused(world, member, {"prompt": "a cat", "style": big}),
            await refused(
                world, member, {"prompt": "a cat", "style": ("notes.txt", b"hi", "text/plain")}
            ),
            await refused(
                world, member, {"prompt": "a cat", "model": "dall-e-3", "style": png("s")}
            ),
        ]
        assert "V6 (`--cref`) or V7 (`--oref`); this prompt runs on V5.2" in told[0]
        assert "`--sref` needs Midjourney V6+; this prompt runs on V5.2" in told[1]
        assert "`--cref` needs Midjourney V6; this prompt runs on V7" in told[2]
        assert "`character_weight` must be from 0 to 100 for `--cw`" in told[3]
        assert "`style_weight` goes with `style`" in told[4]
        assert "already has `--sref`" in told[5]
        assert "`big.png` is too large; the limit is 2 KB" in told[6]
        assert "`notes.txt` is not an image" in told[7]
        assert "`dall-e-3` takes no reference image" in told[8]
        assert all("Nothing was charged" in t for t in told[:6])
        zh = await refused(
            world, member, {"prompt": "猫 --v 5.2", "character": png("c")}, locale="zh-TW"
        )
        assert "角色參考需要 Midjourney V6" in zh and "沒有扣除任何點數" in zh
        assert not world.upstream.requests_to("/mj/submit/imagine")
        assert cards(world) == [] and await balance(world) == 1000
        assert await world.services.ledger.open_holds() == []


async def upscale_of(world: SandboxWorld, member: int, prompt: str) -> Message:
    await run_slash(world, member, "imagine", {"prompt": prompt})
    grid = await finished_card(world)
    assert "Use as style" not in labels(grid)  # a grid of four is no one style
    press = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
    await press.wait_response(timeout=5)
    return await finished_card(world, 1)


async def use_as_style(
    world: SandboxWorld, card: Message, member: int, prompt: str, *, locale: str = "en-US"
) -> Any:
    """Press "Use as style" on ``card``, answer the modal with ``prompt``; the modal's handle."""
    index = labels(card).index("Use as style")  # in the language of the card's owner
    opened = await world.discord.click(card.id, custom_ids(card)[index], member, locale=locale)
    await opened.wait_response(timeout=5)
    assert opened.modal is not None
    sent = await world.discord.submit_modal(
        world.guild_id, world.channel_id, member, opened.modal["custom_id"], {"prompt": prompt}
    )
    await sent.wait_response(timeout=5)
    return opened, sent


async def test_use_as_style_from_an_upscale_after_a_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        alice, bob = world.add_member("alice"), world.add_member("bob", locale="zh-CN")
        upscale = await upscale_of(world, alice, "a lighthouse --sref 42 --ar 2:3")
        assert labels(upscale)[-1] == "Use as style"
        jobs = world.services.jobs
        await wait_until_delivered(world, 2)
        [image] = upscale.attachments
        await world.restart_bot()  # the button names only the job; the rest is stored

        opened, sent = await use_as_style(world, upscale, bob, "a harbour at night", locale="zh-CN")
        assert opened.modal is not None and opened.modal["title"] == "以此风格绘图"
        # The modal starts from the image's prompt without its references.
        fields = opened.modal["components"][0]["components"]
        assert fields[0]["value"] == "a lighthouse --ar 2:3"
        restyled = await finished_card(world, 2)
        assert restyled.attachments and "a harbour at night" in restyled.content
        call = world.upstream.requests_to("/mj/submit/imagine")[-1]
        sref = link_of(call.json["prompt"], "sref")  # the card's attachment, freshly signed
        assert call.json["prompt"] == f"a harbour at night --sref {sref} --v 7"
        assert unsigned(sref) == image.url and "&hm=" in sref
        assert call.json["base64Array"] == []
        task = world.upstream.midjourney.tasks[call_task_id(world)]
        assert task.reading is not None and task.reading.references == {"sref": [sref]}
        job = await jobs.get_by_key(str(sent.id))
        assert (job.kind, job.user_id, job.parent_id) == ("mj_imagine", bob, 2)
        hold = await world.services.ledger.get_hold(f"job:{sent.id}")
        assert (hold.command, hold.amount, hold.status) == ("mj_imagine", 20, "settled")
        assert await balance(world) == 1000 - 20 - 10 - 20
        assert await world.services.ledger.check() == []


async def wait_until_delivered(world: SandboxWorld, job_id: int) -> None:
    """Until the job's card is recorded as delivered: a restart then leaves the card be."""
    for _ in range(200):
        job = await world.services.jobs.get(job_id)
        if job is not None and job.delivery == "delivered":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not delivered")


def call_task_id(world: SandboxWorld) -> str:
    """The id of the newest Midjourney task."""
    return list(world.upstream.midjourney.tasks)[-1]


async def test_use_as_style_refunds_a_failed_job_and_refuses_a_bad_prompt() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        upscale = await upscale_of(world, member, "a fox")
        _, sent = await use_as_style(world, upscale, member, "a fox in the old style --v 5")
        told = await private_reply(world, sent)
        assert "`--sref` needs Midjourney V6+; this prompt runs on V5" in told.content
        world.upstream.midjourney.fail_next = "Job failed: moderation"
        await use_as_style(world, upscale, member, "a wolf")
        failed = await finished_card(world, 2)
        assert "moderation" in failed.content and "20 credits refunded" in failed.content
        assert await balance(world) == 1000 - 20 - 10
        assert await world.services.ledger.check() == []


async def test_use_as_style_from_another_models_image() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a vase", "model": "dall-e-3"})
        await wait_until(lambda: any("-# " in c.content for c in cards(world)), timeout=15)
        [card] = cards(world)
        [image] = card.attachments
        assert labels(card)[-1] == "Use as style"  # after Animate, on its own row
        await use_as_style(world, card, member, "a teapot")
        await finished_card(world, 1)
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        sref = link_of(call.json["prompt"], "sref")
        assert call.json["prompt"] == f"a teapot --sref {sref} --v 7"
        assert unsigned(sref) == image.url and "&hm=" in sref


async def test_no_style_button_where_midjourney_is_not_offered() -> None:
    config = {**CONFIG, "upstream": {"capabilities": {"not_served": ["midjourney"]}}}
    async with SandboxWorld(config=config) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a vase", "model": "dall-e-3"})
        await wait_until(lambda: any("-# " in c.content for c in cards(world)), timeout=15)
        [card] = cards(world)
        assert card.attachments and "Use as style" not in labels(card)


async def test_the_default_version_comes_from_configuration() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        await restart_with(world, "image", midjourney_version="6.1")
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a dog", "character": png("dog")})
        await finished_card(world)
        [call] = world.upstream.requests_to("/mj/submit/imagine")
        assert call.json["prompt"].endswith(" --v 6.1") and "--cref " in call.json["prompt"]
