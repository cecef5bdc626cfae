"""/jobs end to end: a member's jobs of every kind with state, cost and card, paged with
buttons that still work after a restart; the server's list only for Manage Server."""

from __future__ import annotations

from typing import Any

from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, private_reply, run_slash, wait_until
from tests.test_e2e_credit_reports import buttons, footer
from tests.test_e2e_video import FAST_JOBS, cards, finished_card

IMAGE_MODELS = [{"name": "dall-e-3", "adapter": "images", "price": 30}]
# Twelve jobs from one member in a row: past the built-in per-member limits.
LIMITS = {"requests_per_minute": 0, "concurrent": 0}
CONFIG: dict[str, Any] = {
    "chat": FAST_CHAT, "jobs": FAST_JOBS, "image": {"models": IMAGE_MODELS}, "limits": LIMITS,
}  # fmt: skip


def rows(message: Message) -> list[str]:
    return message.embeds[0]["description"].splitlines()


async def press(world: SandboxWorld, message: Message, index: int, user: int) -> Any:
    click = await world.discord.click(message.id, buttons(message)[index]["custom_id"], user)
    await click.wait_response(timeout=5)
    return click


async def test_jobs_lists_state_cost_and_card_and_pages_after_a_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        alice, bob = world.add_member("alice"), world.add_member("bob")

        def image_cards() -> int:
            shown = world.discord.messages(world.channel_id)
            return sum(1 for m in shown if not m.ephemeral and m.content.startswith("🎨"))

        # Each job is made after its command is acknowledged: wait for its card (posted once the
        # job exists) so that the jobs are made in the order the list is checked in.
        for n in range(10):
            await run_slash(world, alice, "imagine", {"prompt": f"kite {n}", "model": "dall-e-3"})
            await wait_until(lambda n=n: image_cards() == n + 1, timeout=10)
        await run_slash(world, bob, "imagine", {"prompt": "bob's", "model": "dall-e-3"})
        await wait_until(lambda: image_cards() == 11, timeout=10)
        await run_slash(world, alice, "video", {"prompt": "a cat surfing", "model": "kling-v1"})
        await finished_card(world)
        world.upstream.video.fail_next = "Video failed: content moderation"
        await run_slash(world, alice, "video", {"prompt": "a dog surfing", "model": "kling-v1"})
        await finished_card(world, 1)
        await world.services.jobs.wait_idle()
        assert await world.services.ledger.balance(world.guild_id) == 1000 - 11 * 30 - 100

        await world.restart_bot()
        handle = await run_slash(world, alice, "jobs")
        [page] = world.discord.interaction_messages(handle)
        assert page.ephemeral and page.embeds[0]["title"] == "Your recent jobs"
        assert footer(page) == "Page 1 of 2"
        shown = rows(page)
        assert len(shown) == 10 and all("<@" not in row for row in shown)  # only her own
        failed, video = cards(world)[1], cards(world)[0]
        link = f"https://discord.com/channels/{world.guild_id}/{world.channel_id}"
        assert "❌ **video · kling-v1** · failed · refunded" in shown[0]
        assert f"[card]({link}/{failed.id})" in shown[0]
        assert "✅ **video · kling-v1** · done · 100 credits" in shown[1]
        assert f"({link}/{video.id})" in shown[1]
        assert all("**image · dall-e-3** · done · 30 credits · [card](" in r for r in shown[2:])

        await world.restart_bot()  # the buttons of a page sent before the restart still work
        await press(world, page, 1, alice)
        page = world.discord.message(page.id)
        assert footer(page) == "Page 2 of 2" and len(rows(page)) == 2
        assert all("30 credits" in row for row in rows(page))
        await press(world, page, 0, alice)
        assert footer(world.discord.message(page.id)) == "Page 1 of 2"

        refused = await run_slash(world, bob, "jobs", {"scope": "server"})
        reply = await private_reply(world, refused)
        assert reply.ephemeral and not reply.embeds and "Manage Server" in reply.content

        handle = await run_slash(world, world.owner_id, "jobs", {"scope": "server"})
        [everyone] = world.discord.interaction_messages(handle)
        assert everyone.embeds[0]["title"] == "This server's recent jobs"
        assert footer(everyone) == "Page 1 of 2"
        assert sum(f"<@{bob}>" in row for row in rows(everyone)) == 1
        await press(world, everyone, 1, world.owner_id)
        last = rows(world.discord.message(everyone.id))
        assert len(last) == 3 and all(f"<@{alice}>" in row for row in last)

        assert await world.services.ledger.balance(world.guild_id) == 1000 - 11 * 30 - 100
