"""Result cards that Discord used to refuse (issue 12): long presigned links, a long file name
with long prompts, and emoji named by a word. Each goes through both sandboxes end to end; the
strict sandbox answers 400 50035 exactly where Discord would, so on the old code the card is
refused and the member never sees what they paid for."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.discord import Message
from bot.sandbox.upstream import mj_tasks as mj_sandbox
from bot.sandbox.upstream import video as video_sandbox
from bot.sandbox.upstream.media import MediaState
from bot.sandbox.world import SandboxWorld
from tests.helpers import run_slash, wait_until
from tests.test_e2e_image_models import CONFIG as IMAGE_CONFIG
from tests.test_e2e_imagine import CONFIG, FAST_JOBS, balance, finished_card, labels
from tests.test_e2e_video import CONFIG as VIDEO_CONFIG
from tests.test_e2e_video import finished_card as finished_video
from tests.test_e2e_video_private import CARD_EDIT

SMALL_UPLOADS = {**FAST_JOBS, "max_upload_bytes": 2048}


def presigned(url: str, length: int) -> str:
    """``url`` with an S3-style signature query making it ``length`` characters long."""
    query = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature="
    return url + query + "f" * (length - len(url) - len(query))


def every_link_reachable(card: Message, urls: list[str]) -> None:
    """Each URL is on the card or in the links file attached to it, and the card fits."""
    assert len(card.content) <= 2000
    listing = "".join(
        a.data.decode() for a in card.attachments if a.filename.endswith("-links.txt")
    )
    for url in urls:
        assert url in card.content or url in listing, url


async def test_four_long_result_links_fit_the_card() -> None:
    config = {**IMAGE_CONFIG, "jobs": SMALL_UPLOADS}
    async with SandboxWorld(config=config) as world:
        world.upstream.media.file_bytes = 4096  # too large to upload: every result is a link
        base = world.upstream.base_url
        urls = [presigned(MediaState.url(base, f"r{i}.png"), 460) for i in range(4)]
        world.upstream.chat.reply = "done!\n" + " ".join(f"![r]({u})" for u in urls)
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "p" * 300, "model": "painter-x"})
        card = await finished_card(world)
        every_link_reachable(card, urls)
        assert "links did not fit" in card.content
        assert [a.filename for a in card.attachments] == ["atelier-1-links.txt"]
        await world.services.jobs.wait_idle()
        assert await balance(world) == 985  # delivered once, charged once
        assert await world.services.ledger.check() == []


async def test_a_long_video_link_fits_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    real = video_sandbox._file_url
    monkeypatch.setattr(video_sandbox, "_file_url", lambda *a: presigned(real(*a), 1700))
    config = {**VIDEO_CONFIG, "jobs": SMALL_UPLOADS}
    async with SandboxWorld(config=config) as world:
        world.upstream.video.video_bytes = 4096
        member = world.add_member("alice")
        await run_slash(world, member, "video", {"prompt": "c" * 300, "model": "kling-v1"})
        card = await finished_video(world)
        [link] = [u for u in card.attachments[0].data.decode().split() if "X-Amz" in u]
        every_link_reachable(card, [link])
        await world.services.jobs.wait_idle()
        assert await balance(world) == 900


async def test_a_long_midjourney_image_link_fits_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mj_sandbox.task_json

    def long_link(*args: Any) -> dict[str, Any]:
        data = real(*args)
        if data["status"] == "SUCCESS":
            data["imageUrl"] = presigned(data["imageUrl"], 1700)
        return data

    monkeypatch.setattr(mj_sandbox, "task_json", long_link)
    async with SandboxWorld(config={**CONFIG, "jobs": SMALL_UPLOADS}) as world:
        world.upstream.midjourney.image_bytes = 4096
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a fox " * 50})
        card = await finished_card(world)
        listing = card.attachments[0].data.decode()
        assert "X-Amz-Signature" in listing and len(card.content) <= 2000
        assert len(labels(card)) == 9 + 1  # the buttons still came with it, and Seed
        await world.services.jobs.wait_idle()
        assert await balance(world) == 980


async def test_describe_card_with_long_name_and_prompts_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def long_prompts(task: Any) -> str:
        return "\n\n".join(f"{n}\ufe0f\u20e3 " + f"scene {n} " * 80 for n in range(1, 5))

    monkeypatch.setattr(mj_sandbox, "describe_text", long_prompts)
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
        name = "n" * 396 + ".png"
        await run_slash(world, member, "describe", attachments=[(name, png, "image/png")])
        card = await finished_card(world)
        assert len(card.content) <= 2000
        assert all(f"**{n}.** scene {n}" in card.content for n in range(1, 5))
        assert card.content.endswith("credits")


async def test_midjourney_emoji_named_by_a_word_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = mj_sandbox.grid_buttons

    def worded(h: str) -> list[dict[str, Any]]:
        buttons = real(h)
        for i, button in enumerate(buttons[:4]):
            button["emoji"] = f"upscale_{i + 1}"  # as some midjourney-proxy versions answer
        return buttons

    monkeypatch.setattr(mj_sandbox, "grid_buttons", worded)
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a red fox"})
        card = await finished_card(world)
        buttons = [c for row in card.components for c in row["components"]]
        assert [(b.get("emoji") or {}).get("name") for b in buttons[:5]] == [None] * 4 + ["🔄"]
        assert labels(card)[:4] == ["U1", "U2", "U3", "U4"]


async def test_links_that_cannot_be_attached_follow_the_card() -> None:
    """Where the bot may not attach files, the links that do not fit in the card go out as
    messages after it, each once, and none is lost."""
    config = {**IMAGE_CONFIG, "jobs": {**SMALL_UPLOADS, "progress_interval": 100.0}}
    async with SandboxWorld(config=config) as world:
        world.upstream.media.file_bytes = 4096
        base = world.upstream.base_url
        urls = [presigned(MediaState.url(base, f"r{i}.png"), 1500) for i in range(4)]
        world.upstream.chat.reply = "done!\n" + " ".join(f"![r]({u})" for u in urls)
        world.discord.inject("PATCH", CARD_EDIT, status=403, code=50013, with_files=True)
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a fox", "model": "painter-x"})
        card = await finished_card(world)

        def after() -> list[Message]:
            return [m for m in world.discord.messages(world.channel_id) if m.id > card.id]

        def shown() -> str:
            return "\n".join([card.content, *(m.content for m in after())])

        await wait_until(lambda: all(u in shown() for u in urls), timeout=15)
        await world.services.jobs.wait_idle()
        assert "follow below" in card.content and not card.attachments
        assert all(shown().count(u) == 1 for u in urls)
        assert all(len(m.content) <= 2000 for m in [card, *after()])
        assert all(not world.discord.mentions_pinged(m) for m in after())
        assert await balance(world) == 985
