"""Midjourney tasks on the job engine: what each job kind submits and how tasks map to states."""

from __future__ import annotations

from typing import Any

from bot.errors import SubmitRejected
from bot.job_types import Job, Submitted, TaskState
from bot.mj_masks import fitted_mask, image_size, mask_base64, region_mask
from bot.mj_references import with_parameters
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import MidjourneyClient, MJTask, data_uri

# Reference images are fetched from Discord at submit time, not stored in the job row.
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
MODAL_PREFIXES = ("MJ::Inpaint::", "MJ::CustomZoom::")


def action_kind(custom_id: str) -> str:
    """The priced job kind of a Midjourney button."""
    if custom_id.startswith(MODAL_PREFIXES):
        return "mj_modal"
    name = custom_id.split("::")[2] if custom_id.count("::") >= 2 else ""
    if name.startswith("upsample"):
        return "mj_upscale"
    if name.endswith("variation"):
        return "mj_variation"
    if name == "reroll":
        return "mj_reroll"
    return "mj_action"


def task_state(task: MJTask) -> TaskState:
    if task.succeeded:
        return TaskState(
            "succeeded",
            progress=100,
            result={
                "image_url": task.image_url,
                "buttons": [
                    {"custom_id": b.custom_id, "label": b.label, "emoji": b.emoji}
                    for b in task.buttons
                ],
                "prompt": task.prompt,
                "final_prompt": task.final_prompt,
                "prompts": task.prompts,
                "action": task.action,
            },
        )
    if task.status in ("FAILURE", "CANCEL"):
        return TaskState("failed", error=task.fail_reason or task.status.lower())
    if task.needs_modal:
        # Remix: the task waits for its prompt to be confirmed (``MidjourneyProvider.answer``).
        prompt = task.final_prompt or task.prompt
        return TaskState("awaiting", progress=task.progress, result={"prompt": prompt})
    running = task.status == "IN_PROGRESS"
    return TaskState(
        "running" if running else "pending",
        progress=task.progress,
        preview_url=task.image_url if running else None,
    )


class MidjourneyProvider:
    name = "mj"
    batch_size = 100

    def __init__(
        self,
        client: MidjourneyClient,
        upstream: UpstreamClient,
        *,
        max_reference_bytes: int = MAX_REFERENCE_BYTES,
    ) -> None:
        self.client = client
        self.upstream = upstream
        self.max_reference_bytes = max_reference_bytes

    async def _images(self, urls: list[str]) -> list[str]:
        images = []
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise SubmitRejected("reference images must be http(s) links")
            images.append(
                data_uri(await self.upstream.download(url, max_bytes=self.max_reference_bytes))
            )
        return images

    async def _mask(self, request: dict[str, Any]) -> str | None:
        """Vary Region's ``maskBase64``: the chosen region, or the member's own mask, as a PNG
        of the image's size (the proxy fails an inpaint without one); None for other modals."""
        region, mask_url = request.get("region"), request.get("mask_url")
        if not (region or mask_url):
            return None
        image = await self.upstream.download(request["image_url"], max_bytes=MAX_REFERENCE_BYTES)
        size = image_size(image)
        if mask_url:
            own = await self.upstream.download(mask_url, max_bytes=MAX_REFERENCE_BYTES)
            return mask_base64(fitted_mask(own, size))
        return mask_base64(region_mask(size, str(region)))

    async def submit(self, job: Job) -> Submitted:
        request: dict[str, Any] = job.request
        kind = job.kind
        if kind == "mj_imagine":
            images = await self._images(request.get("image_urls", []))
            # Style and character references: parameters checked when the job was made.
            prompt = with_parameters(request["prompt"], request.get("parameters", ""))
            result = await self.client.imagine(
                prompt, images=images, niji=bool(request.get("niji"))
            )
        elif kind == "mj_blend":
            images = await self._images(request["image_urls"])
            result = await self.client.blend(images, request.get("dimensions", "SQUARE"))
        elif kind == "mj_describe":
            [image] = await self._images(request["image_urls"])
            result = await self.client.describe(image)
        elif kind == "mj_shorten":
            result = await self.client.shorten(request["prompt"])
        elif kind == "mj_swap_face":
            source, target = await self._images([request["source_url"], request["target_url"]])
            result = await self.client.swap_face(source, target)
        elif kind == "mj_modal":
            mask = await self._mask(request)  # before the press: a bad image presses nothing
            pressed = await self.client.action(request["task_id"], request["custom_id"])
            result = await self.client.modal(pressed.task_id, request["prompt"], mask)
        else:
            result = await self.client.action(request["task_id"], request["custom_id"])
        return Submitted(result.task_id, result.queued)

    async def answer(self, job: Job, text: str) -> Submitted:
        """Confirm a task waiting in status MODAL with the member's prompt."""
        result = await self.client.modal(job.upstream_id or "", text)
        return Submitted(result.task_id, result.queued)

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        tasks = await self.client.fetch(upstream_ids)
        return {task.id: task_state(task) for task in tasks}
