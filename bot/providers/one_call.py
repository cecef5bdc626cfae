"""Providers whose task is one long call rather than a pollable task.

Chat-format media models stream progress text over ``/v1/chat/completions`` and end with
markdown links to the media; the images route answers with the image itself. Either way the job
engine runs ``run(job, report)`` in the background, and a restart during it refunds the job.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.errors import UpstreamFailure
from bot.job_types import Job, Submitted, TaskState
from bot.media_links import media_links
from bot.upstream import ChatClient
from bot.upstream.images import ImagesClient

Report = Callable[[TaskState], Awaitable[None]]
PROGRESS_TAIL = 300  # characters of the model's progress text shown on the card


class OneCallProvider:
    """Shared shape: nothing to submit separately and nothing to poll."""

    name = ""
    batch_size = 1

    async def submit(self, job: Job) -> Submitted:
        raise RuntimeError("a one-call provider is run by the engine, not submitted")

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        return {}


class ChatMediaProvider(OneCallProvider):
    """Any media model the gateway serves in chat format, from configuration alone."""

    name = "chat_media"

    def __init__(self, chat: ChatClient, *, report_every: float = 1.0) -> None:
        self.chat = chat
        self.report_every = report_every

    async def run(self, job: Job, report: Report) -> TaskState:
        text = ""
        last = 0.0
        messages = [{"role": "user", "content": job.request["prompt"]}]
        async for delta in self.chat.stream_chat(job.request["model"], messages):
            text += delta.text
            if delta.text and time.monotonic() - last >= self.report_every:
                last = time.monotonic()
                await report(
                    TaskState(
                        "running",
                        progress=0,
                        preview_url=None,
                        result={"text": text[-PROGRESS_TAIL:]},
                    )
                )
        kinds = tuple(job.request.get("kinds") or ("image", "video", "audio"))
        urls = media_links(text, kinds)
        if not urls:
            raise UpstreamFailure(text.strip()[-300:] or "the model returned no media")
        return TaskState("succeeded", progress=100, result={"urls": urls, "text": text[-1500:]})


class ImagesRouteProvider(OneCallProvider):
    name = "images"

    def __init__(self, images: ImagesClient) -> None:
        self.images = images

    async def run(self, job: Job, report: Report) -> TaskState:
        [first, *_] = await self.images.generate(
            job.request["model"], job.request["prompt"], size=job.request.get("size")
        )
        result = {
            "urls": [first.url] if first.url else [],
            "b64": first.b64,
            "revised_prompt": first.revised_prompt,
        }
        return TaskState("succeeded", progress=100, result=result)
