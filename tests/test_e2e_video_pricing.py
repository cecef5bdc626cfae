"""Video priced as it costs: rules by length, mode and audio, shown, held and settled exactly."""

from __future__ import annotations

from typing import Any

from bot.config import VideoConfig
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, private_reply, run_slash, wait_until
from tests.test_config import problems
from tests.test_e2e_video import FAST_JOBS, balance, cards, finished_card

KLING_PRO = {
    "name": "kling-v2-master", "adapter": "kling", "durations": [5, 10], "aspects": ["16:9"],
    "modes": ["std", "pro"], "audio": True,
    "prices": [
        {"mode": "std", "audio": False, "per_second": 10},
        {"mode": "pro", "audio": False, "price": 20, "per_second": 20},
        {"audio": True, "price": 50, "per_second": 20},
    ],
}  # fmt: skip
MODELS = [m.model_dump() for m in VideoConfig().models] + [KLING_PRO]
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS, "video": {"models": MODELS}}


async def video(world: SandboxWorld, member: int, **options: Any) -> Any:
    body = {"prompt": "a cat surfing", "model": "kling-v2-master", **options}
    return await run_slash(world, member, "video", body)


async def test_the_price_shown_is_the_price_held_and_settled() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        handle = await video(world, member, duration=10, mode="pro")
        assert "(220 credits held)" in (await private_reply(world, handle)).content  # 20 + 10x20
        card = await finished_card(world)
        first = card.history[0][1]
        assert "Price: **220** credits (10 s · 16:9 · pro · 🔇)" in first
        await world.services.jobs.wait_idle()  # settled once delivered
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and (hold.amount, hold.actual, hold.status) == (220, 220, "settled")
        assert await balance(world) == 1000 - 220
        [call] = world.upstream.requests_to("/kling/v1/videos/text2video")
        assert (call.json["mode"], call.json["sound"], call.json["duration"]) == (
            "pro",
            "off",
            "10",
        )

        # The defaults: the first mode, sound off; and sound on by its own rule.
        await video(world, member)
        await finished_card(world, 1)
        handle = await video(world, member, duration=5, audio=True, mode="std")
        assert "(150 credits held)" in (await private_reply(world, handle)).content  # 50 + 5x20
        await finished_card(world, 2)
        await world.services.jobs.wait_idle()
        assert await balance(world) == 1000 - 220 - 50 - 150
        calls = world.upstream.requests_to("/kling/v1/videos/text2video")
        assert [(c.json["mode"], c.json["sound"]) for c in calls[1:]] == [
            ("std", "off"),
            ("std", "on"),
        ]
        assert await world.services.ledger.check() == []

        handle = await run_slash(world, member, "credit prices")
        [prices] = world.discord.interaction_messages(handle)
        shown = {f["name"]: f["value"] for f in prices.embeds[0]["fields"]}["/video"]
        assert "`kling-v2-master` — std · audio off: 10/s; pro · audio off: 20 + 20/s; " \
            "audio on: 50 + 20/s" in shown  # fmt: skip


async def test_options_the_model_does_not_take_are_refused_and_cost_nothing() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        handle = await video(world, member, mode="turbo")
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "takes the modes std, pro, not `turbo`" in reply.content
        handle = await run_slash(
            world, member, "video", {"prompt": "p", "model": "sora-2", "audio": True}
        )
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "`sora-2` has no sound option" in reply.content
        await wait_until(lambda: True)
        assert (
            cards(world) == [] and world.upstream.requests_to("/kling/v1/videos/text2video") == []
        )
        assert await balance(world) == 1000


def test_price_rules_are_checked_at_start_naming_the_key() -> None:
    def found(**changes: Any) -> str:
        model = {**KLING_PRO, **changes}
        return problems({"video": {"models": [model], "default_model": model["name"]}})[
            "video.models.0"
        ]

    unpriced = found(prices=[{"mode": "std", "per_second": 1}])
    assert "no rule prices mode 'pro', aspect '16:9', audio False" in unpriced
    assert "prices.0.mode 'ultra'" in found(prices=[{"mode": "ultra"}, {}])
    assert "prices.0.audio" in found(audio=False, prices=[{"audio": True}, {}])
    assert 'only adapter = "kling"' in found(adapter="luma")
