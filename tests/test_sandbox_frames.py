"""The sandbox's video services open a frame given as a link, as real ones download it: a
Discord attachment link works while its signature is valid, and fails once it is not."""

from __future__ import annotations

import aiohttp

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.server import UpstreamSandbox


async def test_a_frame_link_is_downloaded_and_one_that_does_not_open_is_refused() -> None:
    async with DiscordSandbox() as discord, UpstreamSandbox() as upstream:
        image = discord.upload("frame.png", sandbox_png("frame", False), "image/png")
        headers = {"Authorization": f"Bearer {upstream.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def luma(link: str) -> tuple[int, dict[str, object]]:
                body = {"user_prompt": "a boat", "image_url": link}
                async with http.post(f"{upstream.base_url}/luma/generations", json=body) as resp:
                    return resp.status, await resp.json()

            status, _ = await luma(discord.attachment_link(image))
            assert status == 201  # a signed link opens: the task starts
            for link in (image.url, discord.attachment_link(image).replace("hm=", "hm=0")):
                status, answer = await luma(link)  # unsigned, tampered: Discord answers 404
                assert status == 400
                assert answer["detail"] == {
                    "reason": "image_url: the image could not be downloaded (HTTP 404)",
                    "code": 1,
                }
            async with http.post(
                f"{upstream.base_url}/kling/v1/videos/image2video",
                json={"model_name": "kling-v1", "prompt": "p", "image": image.url},
            ) as resp:
                assert resp.status == 400 and "image: the image could not" in await resp.text()
