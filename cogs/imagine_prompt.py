"""Midjourney jobs that need a prompt from the member: the prompt modal, and the button a job's
card shows while its task waits in status MODAL (remix).

Not an extension: ``cogs.imagine`` registers the button and shows it. A remix is the same job
all along: the answer goes to ``/mj/submit/modal`` with the job's task id, the job keeps its
hold and deadline, and its card shows the progress and the result as for any other job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from bot.acknowledge import acknowledge, answer
from bot.app import Admitted, AtelierBot
from bot.chat_input import require_prompt
from bot.errors import AtelierError, JobNotAwaiting, JobNotFound
from bot.job_types import Job
from cogs.buttons import ButtonAction

# Discord's limits: 45 characters for a modal's title and a field's label, 4000 for a text input.
TITLE_LIMIT = 45
PROMPT_LIMIT = 4000

PromptHandler = Callable[[discord.Interaction[AtelierBot], str], Awaitable[None]]


class NotYourJob(AtelierError):
    key = "mj.not_your_job"


def job_prompt(job: Job) -> str:
    """The prompt a job ran with: the member's answer to a remix, else the one it was given."""
    return str(job.request.get("answer") or job.request.get("prompt") or "")


def may_act(interaction: discord.Interaction[Any], job: Job) -> bool:
    """Who may answer for a job: the member who started it (and holds its credit), or someone
    who manages the server."""
    return job.user_id == interaction.user.id or interaction.permissions.manage_guild


class PromptModal(Admitted, discord.ui.Modal):
    """Asks for a prompt, prefilled; what happens with it is ``submit``'s business."""

    def __init__(
        self,
        bot: AtelierBot,
        locale: Any,
        default: str,
        opener: int,
        submit: PromptHandler,
        *,
        title: str | None = None,
    ) -> None:
        catalog = bot.services.catalog
        shown = title or catalog.t(locale, "mj.modal_title")
        super().__init__(title=shown[:TITLE_LIMIT], timeout=600)
        self.opener = opener
        self.submit = submit
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=catalog.t(locale, "mj.modal_label")[:TITLE_LIMIT],
            default=default[:PROMPT_LIMIT],
            style=discord.TextStyle.paragraph,
            max_length=PROMPT_LIMIT,
            custom_id="prompt",
        )
        self.add_item(self.prompt)

    async def allows(self, interaction: discord.Interaction[Any]) -> bool:
        # Discord only lets the member it was shown to submit it; a forged submit is ignored.
        return interaction.user.id == self.opener

    async def on_submit(self, interaction: discord.Interaction[AtelierBot]) -> None:
        await self.submit(interaction, require_prompt(self.prompt.value))

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        await interaction.client.report_error(interaction, error)


async def awaiting_job(interaction: discord.Interaction[AtelierBot], job_id: int) -> Job:
    """The job a remix button belongs to, if it still waits and this member may answer it."""
    job = await interaction.client.services.jobs.get(job_id)
    if job is None or job.guild_id != interaction.guild_id:
        raise JobNotFound(f"remix button for job {job_id} pressed in guild {interaction.guild_id}")
    if job.status != "awaiting":
        raise JobNotAwaiting(f"job {job_id} is {job.status}")
    if not may_act(interaction, job):
        raise NotYourJob(f"user {interaction.user.id} may not answer job {job_id}")
    return job


async def answer_job(
    interaction: discord.Interaction[AtelierBot], job_id: int, prompt: str
) -> None:
    """Send the member's prompt to the job waiting for it; the card shows the rest."""
    await acknowledge(interaction)
    await awaiting_job(interaction, job_id)  # asked again: the modal may have stayed open long
    await interaction.client.services.jobs.answer(job_id, prompt, interaction.user.id)
    text = interaction.client.services.catalog.t(interaction.locale, "mj.answer_sent")
    await answer(interaction, content=text)


async def _pressed_answer(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Under a job whose task waits for its prompt: opens the prompt modal for that job."""
    job = await awaiting_job(interaction, int(values["job"]))
    default = str((job.result or {}).get("prompt") or job_prompt(job))

    async def submit(modal: discord.Interaction[AtelierBot], prompt: str) -> None:
        await answer_job(modal, job.id, prompt)

    opener = interaction.user.id
    modal = PromptModal(interaction.client, interaction.locale, default, opener, submit)
    await interaction.response.send_modal(modal)


ANSWER = ButtonAction("mjin", _pressed_answer, job=r"[0-9]{1,18}")
