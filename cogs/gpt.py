"""/gpt: ask a custom GPT or a chat model; the answer streams in and continues in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import acknowledge
from bot.answers import ChatChoice, Message, Outcome
from bot.app import AtelierBot, require_guild, role_ids
from bot.chat_input import check_attachment, has_visible_text, require_prompt, user_content
from bot.conversations import Turn, trim_history
from bot.errors import AnswerNotShown, AtelierError, UnknownModel
from bot.gpt_catalog import GPTNotFound, InvalidGPTId, parse_gizmo_id
from bot.i18n import cmd
from bot.log_setup import bind
from bot.streaming import StreamingReply
from bot.targets import ChannelTarget, InteractionTarget
from bot.voice_in import Transcript
from cogs import voice_in as voice
from cogs.answer_buttons import offer_buttons
from cogs.autocomplete import fitting_choices, shared_gpt_choices
from cogs.reasoning_button import ReasoningButton
from cogs.speech import READ_ALOUD

log = logging.getLogger(__name__)

THREAD_NAME_LIMIT = 90
# Seconds the model list waits for the first capability discovery.
MODELS_WAIT = 60.0


def thread_name(prompt: str) -> str:
    """The first line that shows something (not a zero-width or direction mark), cut to size."""
    lines = [line.strip() for line in prompt.splitlines() if has_visible_text(line)]
    return (lines[0] if lines else "GPT")[:THREAD_NAME_LIMIT]


class GPT(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.config = bot.services.config.chat
        self.models: list[str] = [m.name for m in self.config.models]
        self._refresh: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # The buttons under answers; Read aloud's handler lives with /speak.
        self.bot.add_dynamic_items(ReasoningButton, READ_ALOUD.item)
        if self.config.refresh_models:
            self._refresh = asyncio.create_task(self.refresh_models())

    async def cog_unload(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()

    async def refresh_models(self) -> None:
        """Offer what the gateway lists too; configured models stay first."""
        # Capability discovery lists them (one GET /v1/models at start, and on every refresh).
        capabilities = self.services.capabilities
        await capabilities.wait_discovered(MODELS_WAIT)
        listed = capabilities.models
        if listed is None:
            log.info("model list unavailable, keeping the configured models")
            return
        # GPTs are picked with the gpt option; the gateway lists them under either family
        # (gpt-4-gizmo-g-…, gpt-4o-gizmo-g-…), not only under our configured prefix.
        prefix = self.config.gizmo_prefix
        audio = self.services.config.audio.models()  # listed beside them, but not chat models
        extra = [
            m
            for m in listed
            if m not in self.models
            and m not in audio
            and not m.startswith(prefix)
            and "-gizmo-" not in m
        ]
        self.models = self.models + sorted(extra)

    async def choose(self, guild_id: int, gpt: str | None, model: str | None) -> ChatChoice:
        """The GPT or model that answers: as asked, else the guild's default, else config's."""
        if gpt:
            return await self._gpt_choice(guild_id, gpt)
        if model:
            if model not in self.models:
                raise UnknownModel(model, model=model[:100])
            return ChatChoice(model, model, self.config.model(model).stream)
        default_gpt = await self.services.gpt_catalog.default(guild_id)
        if default_gpt:
            return await self._gpt_choice(guild_id, default_gpt)
        name = self.config.default_model
        return ChatChoice(name, name, self.config.model(name).stream)

    async def _gpt_choice(self, guild_id: int, query: str) -> ChatChoice:
        try:
            entry = await self.services.gpt_catalog.find(guild_id, query)
            gizmo_id, label = entry.gizmo_id, entry.name
        except GPTNotFound:
            # Not shared in this guild, but a valid id still works: sharing is optional.
            try:
                gizmo_id = parse_gizmo_id(query)
            except InvalidGPTId:
                raise GPTNotFound(query, query=query[:100]) from None
            label = gizmo_id
        return ChatChoice(f"{self.config.gizmo_prefix}{gizmo_id}", label, True, gizmo_id)

    def system_messages(self) -> list[Message]:
        prompt = self.config.system_prompt
        return [{"role": "system", "content": prompt}] if prompt else []

    def footer(
        self, locale: Any, choice: ChatChoice, outcome: Outcome, heard: Transcript | None = None
    ) -> str:
        catalog = self.services.catalog
        label = choice.label
        if outcome.model and outcome.model != choice.model:
            label = catalog.t(locale, "fallback.answered_by", model=outcome.model, label=label)
        done = catalog.t(locale, "gpt.footer", label=label, cost=outcome.cost)
        if outcome.usage is not None and outcome.usage.reasoning_tokens:
            tokens = catalog.t(locale, "reasoning.tokens", tokens=outcome.usage.reasoning_tokens)
            done = f"{done} · {tokens}"
        done += voice.cost_note(self.services, locale, heard)
        if outcome.error is None:
            return done
        problem = catalog.error(locale, outcome.error)
        if not outcome.delivered:
            return f"⚠️ {problem}"
        return f"-# ⚠️ {catalog.t(locale, 'gpt.cut_off', reason=problem)}\n{done}"

    def reasoning_options(self, locale: Any, mode: str) -> dict[str, Any]:
        """How answers.run shows a reasoning model's thinking under the server's mode."""
        catalog = self.services.catalog

        def thinking(seconds: float) -> str:
            return catalog.t(locale, "reasoning.thinking", seconds=int(seconds))

        return {"thinking": thinking if mode != "off" else None, "show_reasoning": mode == "shown"}

    @app_commands.command(
        name=cmd("gpt", "gpt.name"),
        description=cmd("Ask a custom GPT or a chat model", "gpt.description"),
    )
    @app_commands.describe(
        prompt=cmd("What to ask", "gpt.prompt"),
        gpt=cmd("A GPT shared in this server, or a g-… id", "gpt.gpt"),
        model=cmd("A chat model instead of a GPT", "gpt.model"),
        private=cmd("Only you see the answer", "gpt.private"),
        file=cmd("An image, a text file or a recording to include", "gpt.file"),
    )
    @app_commands.guild_only()
    async def gpt(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, 4000],
        gpt: str | None = None,
        model: str | None = None,
        private: bool = False,
        file: discord.Attachment | None = None,
    ) -> None:
        services = self.services
        guild_id = require_guild(interaction)
        services.capabilities.require("chat")
        require_prompt(prompt)
        if model and not gpt and model not in self.models:
            raise UnknownModel(model, model=model[:100])  # refused before any "thinking…"
        # First, before the GPT lookup, the download, moderation and the hold can wait: a
        # refusal after this replaces the public "thinking" reply with a private one.
        await acknowledge(interaction, private=private)
        choice = await self.choose(guild_id, gpt, model)
        key = f"gpt:{interaction.id}"
        heard = None
        if file is not None and voice.is_recording(file):
            heard = await voice.transcribe(
                services, file, interaction.user, guild_id=guild_id, key=key
            )
        # A recording's transcript is paid back unless the answer it asked for is shown.
        # The answer's bookkeeping, its thread and a refund of its transcription are part of the
        # work a graceful shutdown waits for: an unrecorded conversation cannot continue.
        async with self.bot.work.track(), services.voice_in.answered(heard) as delivery:
            content = await self._content(prompt, file, choice, heard)
            messages = [*self.system_messages(), {"role": "user", "content": content}]
            hold = await services.answers.hold(
                choice, messages, guild_id=guild_id, user_id=interaction.user.id,
                channel_id=interaction.channel_id or 0, role_ids=role_ids(interaction.user),
                key=key,
            )  # fmt: skip
            target = InteractionTarget(interaction, services.traffic, ephemeral=private)
            reply = StreamingReply(target, pacing=services.pacing)
            async with services.ledger.refund_on_error(hold):
                outcome, mode = await self._answer(
                    interaction.locale, guild_id, hold, choice, messages, reply, heard
                )
                delivery.delivered = outcome.delivered
                if not outcome.delivered:
                    return
                await offer_buttons(services, target, guild_id, interaction.locale, mode, outcome)
                if choice.gizmo_id:
                    await services.gpt_catalog.record_use(guild_id, choice.gizmo_id)
                if not private and self.config.reply_mode == "thread" and target.first:
                    turn = prompt if heard is None else str(content)
                    await self._open_thread(interaction, target.first, choice, turn, outcome.text)

    async def _answer(
        self,
        locale: Any,
        guild_id: int,
        hold: Any,
        choice: ChatChoice,
        messages: list[Message],
        reply: StreamingReply,
        heard: Transcript | None,
    ) -> tuple[Outcome, str]:
        """Stream one answer under the server's reasoning mode (returned too), the transcript
        above it."""
        reply.start()
        mode = await self.services.policies.reasoning_mode(guild_id)
        outcome = await self.services.answers.run(
            hold, choice, messages, reply, lambda o: self.footer(locale, choice, o, heard),
            preamble=voice.preamble(self.services, locale, heard),
            **self.reasoning_options(locale, mode),
        )  # fmt: skip
        return outcome, mode

    async def _content(
        self,
        prompt: str,
        file: discord.Attachment | None,
        choice: ChatChoice,
        heard: Transcript | None = None,
    ) -> str | list[dict[str, Any]]:
        if file is None:
            return prompt
        if heard is not None:
            return f"{prompt}\n\n--- {file.filename} ---\n{heard.text}"
        kind = check_attachment(
            file.filename,
            file.content_type,
            file.size,
            max_image=self.config.max_image_bytes,
            max_text=self.config.max_text_file_bytes,
            vision=self.config.model(choice.model).vision,
        )
        data = await file.read()
        return user_content(
            prompt, filename=file.filename, kind=kind, data=data, content_type=file.content_type
        )

    async def _open_thread(
        self,
        interaction: discord.Interaction[AtelierBot],
        answer: discord.Message,
        choice: ChatChoice,
        prompt: str,
        text: str,
    ) -> None:
        if not isinstance(interaction.channel, discord.TextChannel):
            return
        # Both writes count against the global limit; the bot's HTTP session spends the write
        # budget on them as on every other request that carries the token.
        try:
            thread = await answer.create_thread(name=thread_name(prompt))
        except discord.HTTPException as exc:
            log.warning("could not open a thread for interaction %s: %s", interaction.id, exc)
            return
        await self.services.conversations.start(
            guild_id=interaction.guild_id or 0,
            channel_id=thread.id,
            model=choice.model,
            label=choice.label,
            created_by=interaction.user.id,
            turns=[Turn("user", prompt, interaction.user.id), Turn("assistant", text)],
        )
        hint = self.services.catalog.t(interaction.locale, "gpt.thread_hint", label=choice.label)
        try:
            await thread.send(hint)
        except discord.HTTPException as exc:
            # The answer and the thread stand; replies in the thread still continue it.
            log.warning("could not post the hint in thread %s: %s", thread.id, exc)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A member's message in a conversation thread continues that conversation; a voice
        message does too, transcribed."""
        if message.author.bot or message.guild is None:
            return
        if not has_visible_text(message.content) and voice.voice_attachment(message) is None:
            return
        if self.bot.draining:
            return  # shutting down: a replayed event after the restart will not be charged twice
        if not isinstance(message.channel, discord.Thread):
            return
        # Two quick messages must not both read the history before either reply is saved:
        # replies in one thread take turns, in the order the messages came (no await before).
        async with self.services.conversations.one_at_a_time(message.channel.id):
            if self.bot.draining:
                return  # the shutdown began while this reply waited its turn
            conversation = await self.services.conversations.by_channel(message.channel.id)
            if conversation is None:
                return
            bind(guild=message.guild.id, member=message.author.id, command="gpt thread")
            key = f"thread:{message.id}"
            if await self.services.ledger.get_hold(key) is not None:
                return  # a replayed gateway event: this message was answered already
            await self._continue(message, conversation, key)

    async def _continue(self, message: discord.Message, conversation: Any, key: str) -> None:
        services = self.services
        locale = message.guild.preferred_locale if message.guild else None
        choice = ChatChoice(
            conversation.model, conversation.label, self.config.model(conversation.model).stream
        )
        recording = voice.voice_attachment(message)
        heard = None
        try:
            if recording is not None:
                heard = await voice.transcribe(
                    services, recording, message.author, guild_id=conversation.guild_id, key=key
                )
        except AtelierError as exc:
            # Refused before anything was held, or refunded: said where the member asked.
            await message.reply(services.catalog.error(locale, exc), mention_author=False)
            return
        # The transcript is the member's turn, in the history the next replies read.
        user_turn = Turn("user", heard.text if heard else message.content, message.author.id)
        # The answer's bookkeeping, its thread and a refund of its transcription are part of the
        # work a graceful shutdown waits for: an unrecorded conversation cannot continue.
        async with self.bot.work.track(), services.voice_in.answered(heard) as delivery:
            delivery.delivered = await self._answer_turn(
                message, conversation, key, choice, user_turn, heard, locale
            )

    async def _answer_turn(
        self,
        message: discord.Message,
        conversation: Any,
        key: str,
        choice: ChatChoice,
        user_turn: Turn,
        heard: Transcript | None,
        locale: Any,
    ) -> bool:
        """Answer one turn of a thread; whether the answer was delivered."""
        services = self.services
        history = trim_history(
            [*await services.conversations.turns(conversation.id), user_turn],
            self.config.history_chars,
        )
        messages = [
            *self.system_messages(),
            *({"role": t.role, "content": t.content} for t in history),
        ]
        try:
            hold = await services.answers.hold(
                choice, messages, guild_id=conversation.guild_id, user_id=message.author.id,
                channel_id=message.channel.id, key=key, role_ids=role_ids(message.author),
            )  # fmt: skip
        except AtelierError as exc:
            await message.reply(services.catalog.error(locale, exc), mention_author=False)
            return False
        target = ChannelTarget(message.channel, services.traffic, reference=message)
        reply = StreamingReply(target, pacing=services.pacing, budget=services.write_budget)
        try:
            async with services.ledger.refund_on_error(hold):
                outcome, mode = await self._answer(
                    locale, conversation.guild_id, hold, choice, messages, reply, heard
                )
                if outcome.delivered:
                    await services.conversations.add_turns(
                        conversation.id, [user_turn, Turn("assistant", outcome.text)]
                    )
                    await offer_buttons(
                        services, target, conversation.guild_id, locale, mode, outcome
                    )
                return outcome.delivered
        except AnswerNotShown as exc:
            # The thread is gone or closed to us: nowhere to say so; only what showed is paid.
            log.warning("could not reply in thread %s: %s", message.channel.id, exc)
        except Exception as exc:
            # Refunded already (refund_on_error); the member hears of it where they asked.
            log.exception("thread reply in %s failed", message.channel.id)
            with contextlib.suppress(discord.HTTPException):
                await message.reply(services.catalog.error(locale, exc), mention_author=False)
        return False

    gpt.autocomplete("gpt")(shared_gpt_choices)

    @gpt.autocomplete("model")
    async def _model_autocomplete(
        self, _interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        return fitting_choices((m, m) for m in self.models if needle in m.casefold())


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(GPT(bot))
