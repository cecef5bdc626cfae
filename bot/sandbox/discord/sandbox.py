"""`DiscordSandbox`: a local Discord (REST + gateway) that an unmodified discord.py bot talks to.

This file only wires the parts together and offers what tests and the demo call; the behaviour
lives in the modules it imports.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Self

from aiohttp import web

from .commands import CommandRegistry
from .gateway import Gateway, shard_of
from .interactions import InteractionFactory, InteractionHandle, InteractionRegistry
from .messages import Messages
from .observe import Observations
from .payloads import ATTACHMENT_SIZE_LIMIT, Payloads
from .permissions import INTENT_GUILD_MEMBERS, INTENT_GUILDS
from .ratelimit import Fault, FaultTable, RateLimiter
from .request_body import Body, Upload
from .routes import RestRoutes
from .server import Recorder, build_app
from .settings import Settings
from .state import Attachment, Clock, Guild, Snowflakes, Store, User
from .validation import FLAG_VOICE_MESSAGE
from .webhooks import InteractionRoutes

# What Discord's clients send for a voice message: 256 amplitude bytes at most, base64.
VOICE_WAVEFORM = "AAAAAAAAAAAACxQeKDI8RlBaZG54goyWoKq0vsjS3Obw+g=="


class DiscordSandbox(Observations):
    def __init__(
        self,
        *,
        bucket_limit: int = 5,
        bucket_window: float = 5.0,
        global_limit: int = 50,
        token: str = "sandbox-token",
        heartbeat_interval: float = 40.0,
        interaction_ack_deadline: float = 3.0,
        interaction_token_ttl: float = 900.0,
        shard_count: int = 1,
        host: str = "127.0.0.1",
        attachment_size_limit: int = ATTACHMENT_SIZE_LIMIT,
    ) -> None:
        self.clock = Clock()
        ids = Snowflakes(self.clock)
        # Modern Discord apps share one id between the application and its bot user.
        bot = User(ids.next(), "Atelier", bot=True)
        self.store = Store(self.clock, ids, bot)
        owner = self.store.add_user("app-owner")
        self.settings = Settings(
            token=token,
            application_id=bot.id,
            bot_user_id=bot.id,
            owner_id=owner.id,
            heartbeat_interval=heartbeat_interval,
            interaction_ack_deadline=interaction_ack_deadline,
            interaction_token_ttl=interaction_token_ttl,
            shard_count=shard_count,
        )
        self.records: list[dict[str, Any]] = []
        self.gateway_log: list[dict[str, Any]] = []
        self.payloads = Payloads(self.store, bot.id)
        self.payloads.attachment_size_limit = attachment_size_limit
        self.gateway = Gateway(self.store, self.payloads, self.settings, self.gateway_log)
        self._messages = Messages(
            self.store, self.payloads, self.gateway, lambda: self.settings.base_url
        )
        self.commands = CommandRegistry(ids, bot.id)
        self.interactions = InteractionRegistry()
        self._factory = InteractionFactory(
            self.store, self.payloads, self.commands, self._messages, self.interactions
        )
        self.limiter = RateLimiter(bucket_limit, bucket_window, global_limit)
        self.faults = FaultTable()
        rest = RestRoutes(
            self.store, self.payloads, self._messages, self.commands, self.gateway, self.settings
        )
        hooks = InteractionRoutes(
            self.store, self.payloads, self._messages, self.interactions, self.settings
        )
        recorder = Recorder(self.settings, self.clock, self.limiter, self.faults, self.records)
        self._app = build_app(recorder, [rest.add_routes, hooks.add_routes], self.gateway.handle)
        self._host = host
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> Self:
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, 0))
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self.settings.base_url = f"http://{self._host}:{sock.getsockname()[1]}"
        return self

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- identity and knobs ----------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return self.settings.api_base

    @property
    def gateway_url(self) -> str:
        return self.settings.gateway_url

    @property
    def token(self) -> str:
        return self.settings.token

    @property
    def application_id(self) -> int:
        return self.settings.application_id

    @property
    def bot_user_id(self) -> int:
        return self.settings.bot_user_id

    @property
    def latency(self) -> float:
        """Seconds added to every REST response (default 0)."""
        return self.settings.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.settings.latency = seconds

    @property
    def shard_count(self) -> int:
        """What `GET /gateway/bot` recommends."""
        return self.settings.shard_count

    @shard_count.setter
    def shard_count(self, count: int) -> None:
        self.settings.shard_count = count

    def set_bucket_limit(self, limit: int, window: float) -> None:
        self.limiter.set_bucket_limit(limit, window)

    def set_global_limit(self, limit: int) -> None:
        self.limiter.set_global_limit(limit)

    @staticmethod
    def shard_of(guild_id: int, shard_count: int) -> int:
        return shard_of(guild_id, shard_count)

    # -- the world -------------------------------------------------------------------------
    def add_guild(
        self, name: str = "Sandbox", locale: str = "en-US", owner_name: str = "owner"
    ) -> Guild:
        """A guild with its owner, the bot, @everyone and a "general" text channel."""
        guild = self.store.add_guild(name, locale, owner_name)
        self.gateway.dispatch(
            guild.id, "GUILD_CREATE", self.payloads.guild_create(guild), intent=INTENT_GUILDS
        )
        return guild

    def set_attachment_size_limit(self, limit: int, guild_id: int | None = None) -> None:
        """What the bot may upload from now on: in one guild (as its boost level sets it), or
        wherever no guild says otherwise. Interactions report it as ``attachment_size_limit``."""
        if guild_id is None:
            self.payloads.attachment_size_limit = limit
        else:
            self.store.guild(guild_id).attachment_size_limit = limit

    def upload(self, filename: str, data: bytes, content_type: str) -> Attachment:
        """A file on the CDN, as a member's upload puts it there (no message needed)."""
        return self._messages.store_file("ephemeral", filename, data, content_type)

    def attachment_link(self, attachment: Attachment) -> str:
        """A freshly signed link to ``attachment``, as a payload would carry it now (its stored
        ``url`` is unsigned, and the CDN answers 404 to that, as Discord's does)."""
        return self.payloads.cdn.sign(attachment.url)

    def set_attachment_link_lifetime(self, seconds: float) -> None:
        """How long the links handed out from now on stay valid (Discord: about a day)."""
        self.payloads.cdn.lifetime = seconds

    def add_channel(self, guild_id: int, name: str) -> int:
        channel = self.store.add_channel(guild_id, name)
        self.gateway.dispatch(
            channel.guild_id, "CHANNEL_CREATE", self.payloads.channel(channel), intent=INTENT_GUILDS
        )
        return channel.id

    def add_user(self, username: str, locale: str = "en-US") -> int:
        """A user who shares no guild with the bot yet (for DMs, or add_member(user_id=))."""
        return self.store.add_user(username, locale=locale).id

    def add_role(self, guild_id: int, name: str, permissions: int = 0) -> int:
        role = self.store.add_role(guild_id, name, permissions)
        data = {"guild_id": str(role.guild_id), "role": self.payloads.role(role)}
        self.gateway.dispatch(role.guild_id, "GUILD_ROLE_CREATE", data, intent=INTENT_GUILDS)
        return role.id

    def add_member(
        self,
        guild_id: int,
        username: str,
        permissions: int | None = None,
        roles: list[int] | None = None,
        locale: str = "en-US",
        *,
        user_id: int | None = None,
    ) -> int:
        """Add a member; `permissions` is what Discord resolves for them (default: @everyone's).

        When it grants more than their roles do, a personal role carries the difference, so
        the bot's cached `guild_permissions` agree with `interaction.permissions`.
        """
        uid = user_id if user_id is not None else self.store.add_user(username, locale=locale).id
        roles = list(roles or [])
        if permissions is not None:
            base = self.store.roles[int(guild_id)].permissions
            for rid in roles:
                base |= self.store.role(rid).permissions
            if permissions & ~base:
                roles.append(
                    self.add_role(guild_id, f"{username} permissions", permissions & ~base)
                )
        self.store.add_member(guild_id, uid, roles=roles, permissions=permissions)
        data = {**self.payloads.member(guild_id, uid), "guild_id": str(guild_id)}
        self.gateway.dispatch(int(guild_id), "GUILD_MEMBER_ADD", data, intent=INTENT_GUILD_MEMBERS)
        return uid

    def add_thread(self, channel_id: int, name: str, *, message_id: int | None = None) -> int:
        """A public thread under a text channel (on a message if given), as a member makes one."""
        parent = self.store.channel(channel_id)
        thread = self.store.add_channel(
            parent.guild_id,
            name,
            type=11,
            parent_id=parent.id,
            owner_id=self.store.guild(parent.guild_id or 0).owner_id,
            channel_id=message_id,
        )
        if message_id is not None:
            self.store.message(message_id).thread_id = thread.id
        data = {**self.payloads.channel(thread), "newly_created": True}
        self.gateway.dispatch(parent.guild_id, "THREAD_CREATE", data, intent=INTENT_GUILDS)
        return thread.id

    # -- what members do -------------------------------------------------------------------
    def _deliver(self, handle: InteractionHandle) -> InteractionHandle:
        if not self.gateway.dispatch(handle.guild_id, "INTERACTION_CREATE", handle.payload):
            raise RuntimeError(
                f"no gateway session owns guild {handle.guild_id}; is the bot connected?"
            )
        return handle

    async def slash(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        locale: str | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
    ) -> InteractionHandle:
        """Run a synced slash command ("credit balance" = command + subcommand).

        Raises LookupError for commands not synced to that guild or globally, PermissionError
        when default_member_permissions hides it from the user, ValueError for options a
        Discord client would refuse.
        """
        handle = self._factory.slash(
            guild_id, channel_id, user_id, command, options, locale, attachments
        )
        return self._deliver(handle)

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        focused: str = "",
        locale: str | None = None,
    ) -> InteractionHandle:
        handle = self._factory.autocomplete(
            guild_id, channel_id, user_id, command, options, focused, locale
        )
        return self._deliver(handle)

    async def click(
        self,
        message_id: int,
        custom_id: str,
        user_id: int,
        locale: str | None = None,
        values: list[str] | None = None,
    ) -> InteractionHandle:
        """Press a button (or pick `values` in a select) on a message."""
        return self._deliver(self._factory.click(message_id, custom_id, user_id, locale, values))

    async def submit_modal(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        custom_id: str,
        values: dict[str, Any],
        message_id: int | None = None,
        locale: str | None = None,
    ) -> InteractionHandle:
        """Submit a modal the bot showed this user; `values` maps field custom_id to text."""
        handle = self._factory.submit_modal(
            guild_id, channel_id, user_id, custom_id, values, message_id, locale
        )
        return self._deliver(handle)

    async def post_user_message(
        self, channel_id: int, user_id: int, content: str, *, reply_to: int | None = None
    ) -> int:
        """A member writes in a channel (or the bot's DM); dispatches MESSAGE_CREATE."""
        channel = self.store.channel(channel_id)
        if channel.guild_id is not None:
            self.store.member(channel.guild_id, user_id)
        elif channel.recipient_id != int(user_id):
            raise LookupError(f"user {user_id} is not in DM channel {channel_id}")
        data: dict[str, Any] = {"content": content}
        if reply_to is not None:
            data["message_reference"] = {"message_id": str(reply_to)}
        return self._messages.create(channel, int(user_id), Body(data)).id

    async def post_voice_message(
        self,
        channel_id: int,
        user_id: int,
        audio: bytes,
        *,
        duration_secs: float,
        waveform: str = VOICE_WAVEFORM,
        filename: str = "voice-message.ogg",
    ) -> int:
        """A member records a voice message: MESSAGE_CREATE with flag IS_VOICE_MESSAGE, no
        content, one ``audio/ogg`` attachment with ``duration_secs`` and ``waveform``."""
        channel = self.store.channel(channel_id)
        if channel.guild_id is not None:
            self.store.member(channel.guild_id, user_id)
        meta = {"id": "0", "filename": filename, "duration_secs": duration_secs,
                "waveform": waveform}  # fmt: skip
        body = Body({"flags": FLAG_VOICE_MESSAGE, "attachments": [meta]},
                    [Upload("files[0]", filename, "audio/ogg", audio)])  # fmt: skip
        return self._messages.create(channel, int(user_id), body).id

    def redeliver_message(self, message_id: int) -> None:
        """Dispatch MESSAGE_CREATE for a message again: Discord delivers gateway events at
        least once (a resumed session can replay what the client had already received)."""
        self._messages.dispatch("MESSAGE_CREATE", self.store.message(message_id))

    def delete_message(self, message_id: int) -> None:
        """Someone with Manage Messages deletes a message (a bot's card, say)."""
        self._messages.delete(self.store.message(message_id))

    def delete_channel(self, channel_id: int) -> None:
        """An admin deletes a channel, its threads and their messages with it: channel routes
        answer 404/10003 from now on, interaction webhooks on its messages 404/10008."""
        channel = self.store.channel(channel_id)
        threads = [c for c in self.store.channels.values() if c.parent_id == channel.id]
        gone = {channel.id, *(t.id for t in threads)}
        for message in self.store.messages.values():
            if message.channel_id in gone:
                message.deleted = True
        for doomed in [*threads, channel]:
            del self.store.channels[doomed.id]
            event = "THREAD_DELETE" if doomed.parent_id is not None else "CHANNEL_DELETE"
            data = self.payloads.channel(doomed)
            self.gateway.dispatch(doomed.guild_id, event, data, intent=INTENT_GUILDS)

    def invalidate_sessions(self, shard: int | None = None) -> int:
        """The gateway answers INVALID_SESSION (op 9, not resumable) on live connections: the
        client must IDENTIFY again, on a new session; what was dispatched meanwhile is lost."""
        return self.gateway.invalidate(shard)

    def drop_gateway(self, shard: int | None = None, code: int | None = None) -> int:
        """Cut gateway connections abruptly (1006; or close with `code`); clients RESUME."""
        return self.gateway.drop(shard, code)

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        times: int = 1,
        skip: int = 0,
        retry_after: float = 0.25,
        is_global: bool = False,
        code: int | None = None,
        message: str | None = None,
        with_files: bool | None = None,
        errors: dict[str, Any] | None = None,
    ) -> Fault:
        """Answer the next `times` calls matching (method or "*", regex over the API path)
        with a fault, after letting `skip` through: 429, 5xx, or e.g. 403/50013, 404/10062.
        ``with_files`` limits it to calls that upload files (True) or upload none (False);
        ``errors`` is the ``errors`` tree of a 400 50035."""
        fault = Fault(
            method.upper() if method != "*" else "*",
            re.compile(path_regex),
            status,
            times,
            skip,
            retry_after,
            is_global,
            code,
            message,
            with_files=with_files,
            errors=errors,
        )
        return self.faults.add(fault)
