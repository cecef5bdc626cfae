"""Which results can be animated, with which prompt and model: the rules, without Discord."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.animate import (
    FALLBACK_PROMPT,
    animatable,
    animate_model,
    card_image_name,
    image_url,
    message_link,
    motion_prompt,
    takes_end_frame,
)
from bot.animate_choices import MAX_CHOICES, ChoiceGone, choices, decode, encode, has_choices
from bot.config import VideoConfig, VideoModel
from bot.job_types import Job
from bot.video_pricing import VideoOptions

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def job(kind: str, result: dict[str, Any] | None, status: str = "succeeded", **request: Any) -> Job:
    return Job(
        id=7, key="k", kind=kind, provider="p", upstream_id="u", guild_id=1, channel_id=2,
        user_id=3, message_id=4, locale="en-US", parent_id=None, status=status, progress=100,
        request=request, result=result, error=None, hold_id=None, deadline=NOW, created_at=NOW,
        delivery="done",
    )  # fmt: skip


def test_only_finished_single_images_with_a_link_can_be_animated() -> None:
    assert image_url(job("mj_upscale", {"image_url": "https://cdn/x.png"})) == "https://cdn/x.png"
    assert image_url(job("media_image", {"urls": ["data:x", "https://cdn/y.png"]})) == (
        "https://cdn/y.png"
    )
    assert image_url(job("mj_imagine", {"image_url": "https://cdn/grid.png"})) is None  # a grid
    assert image_url(job("media_image", {"b64": "iVBOR"})) is None  # bytes only: no link to send
    assert image_url(job("mj_upscale", None, status="failed")) is None
    assert message_link(job("mj_upscale", None)) == "https://discord.com/channels/1/2/4"


def test_an_image_that_came_only_as_bytes_is_animated_from_its_card() -> None:
    bytes_only = job("media_image", {"urls": [], "b64": "iVBOR"})
    assert card_image_name(bytes_only) == "atelier-7.png" and animatable(bytes_only)
    linked = job("media_image", {"urls": ["https://cdn/y.png"], "b64": "iVBOR"})
    assert card_image_name(linked) is None and animatable(linked)  # its own link first
    assert not animatable(job("media_image", {"urls": []}))  # neither a link nor bytes
    assert not animatable(job("media_image", {"b64": "iVBOR"}, status="failed"))
    assert card_image_name(job("mj_upscale", {"b64": "iVBOR"})) is None


def test_the_motion_prompt_falls_back_to_the_image_prompt_without_parameters() -> None:
    image = job("mj_upscale", {}, prompt="a red fox --ar 3:2 --v 6")
    assert motion_prompt("  slow zoom  ", image) == "slow zoom"
    assert motion_prompt("", image) == "a red fox"
    assert motion_prompt("", job("mj_upscale", {}, prompt="--ar 1:1")) == FALLBACK_PROMPT


class Served:
    def __init__(self, *families: str) -> None:
        self.families = families

    def adapter_served(self, adapter: str) -> bool:
        return adapter in self.families


class Settings:
    def __init__(self, video: VideoConfig) -> None:
        self.video = video


@pytest.mark.parametrize(
    ("model", "served", "offered"),
    [
        (VideoModel(name="k", adapter="kling"), ("kling",), True),
        (VideoModel(name="k", adapter="kling"), ("luma",), False),  # the gateway has no Kling
        (VideoModel(name="k", adapter="kling", image="none"), ("kling",), False),
        (VideoModel(name="c", adapter="chat"), ("chat",), False),  # a chat model takes no image
    ],
)
def test_animate_is_offered_only_by_a_served_model_that_starts_from_an_image(
    model: VideoModel, served: tuple[str, ...], offered: bool
) -> None:
    config: Any = Settings(VideoConfig(default_model=model.name, models=[model]))
    found = animate_model(config, Served(*served))  # type: ignore[arg-type]
    assert (found is not None) is offered


def test_kling_and_luma_take_a_last_frame() -> None:
    adapters = [
        a
        for a in ("kling", "luma", "sora", "unified")
        if takes_end_frame(
            VideoModel(name=a, adapter=a)  # type: ignore[arg-type]
        )
    ]
    assert adapters == ["kling", "luma"]


def test_animate_choices_travel_as_codes_checked_against_the_model_now() -> None:
    kling = VideoModel(name="k", adapter="kling", durations=[5, 10], modes=["std", "pro"],
                       audio=True)  # fmt: skip
    offered = choices(kling)
    assert len(offered) == 8 and offered[0] == VideoOptions(5, "16:9", "std", False)
    assert [decode(kling, encode(kling, o)) for o in offered] == offered
    assert encode(kling, VideoOptions(10, "16:9", "pro", True)) == "10.1.1"
    for code in ("15.0.0", "5.2.0", "5.0.x", "5", "5.0.0;drop"):  # gone, or not a code at all
        with pytest.raises(ChoiceGone):
            decode(kling, code)
    single = VideoModel(name="l", adapter="luma")
    assert not has_choices(single) and choices(single) == [VideoOptions(5, "16:9")]
    many = VideoModel(name="s", adapter="sora", durations=list(range(1, 41)))
    assert len(choices(many)) == MAX_CHOICES  # a select menu holds 25
