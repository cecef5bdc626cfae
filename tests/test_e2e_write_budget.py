"""The write budget end to end: every request the bot sends with its token, whichever cog or
library call makes it and however often discord.py retries it, takes one slot of the budget;
interaction callbacks and follow-ups, which Discord keeps out of the global limit, take none."""

from __future__ import annotations

from typing import Any

from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, open_conversation, thread_reply, wait_until


def on_token(world: SandboxWorld) -> list[dict[str, Any]]:
    """The requests the sandbox counted against the token's global limit."""
    token = f"Bot {world.discord.settings.token}"
    return [r for r in world.discord.records if r["auth"] == token]


async def test_every_request_on_the_token_takes_a_slot_and_interactions_none() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        budget = world.services.write_budget
        member = world.add_member("alice")
        thread_id = await open_conversation(world, member)  # /gpt, then a thread and its hint
        world.upstream.chat.reply = "A longer answer, streamed in a few edits. " * 20
        world.upstream.chat.chunk_chars = 80
        world.upstream.chat.pace = 0.1  # a second of streaming: several edits at 0.2 s
        # discord.py retries a global 429 by itself; the retry is a request like any other.
        world.discord.inject(
            "POST", rf"^/channels/{thread_id}/messages$", status=429, retry_after=0.2,
            is_global=True,
        )  # fmt: skip
        said = await world.discord.post_user_message(thread_id, member, "tell me more")
        reply = await thread_reply(world, thread_id, said)
        assert reply

        counted = on_token(world)
        await wait_until(lambda: budget.slots == len(on_token(world)))
        routes = {r["route"] for r in counted}
        # Startup, command sync, the thread, its hint, the streamed reply and the retried post.
        assert {
            "/users/@me",
            "/channels/{channel_id}/messages/{message_id}/threads",
            "/channels/{channel_id}/messages",
            "/channels/{channel_id}/messages/{message_id}",
        } <= routes
        assert sum(1 for r in counted if r["status"] == 429) == 1
        exempt = [r for r in world.discord.records if r["auth"] is None]
        assert {r["route"].split("/")[1] for r in exempt} == {"interactions", "webhooks"}
        assert budget.slots == len(counted)  # the interaction's requests took none
