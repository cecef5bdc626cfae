"""REST routes for the bot token: login, gateway info, command sync, channels, messages,
threads, guilds and users. Interaction routes live in webhooks.py."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .cdn import GONE
from .commands import CommandRegistry
from .gateway import Gateway
from .messages import Messages
from .payloads import Payloads
from .permissions import INTENT_GUILDS
from .request_body import BODY_KEY
from .responses import DiscordError, invalid_form, json_response, no_content
from .settings import Settings
from .state import DM, PRIVATE_THREAD, PUBLIC_THREAD, THREAD_TYPES, Channel, Message, Store
from .validation import thread_errors


class RestRoutes:
    def __init__(
        self,
        store: Store,
        payloads: Payloads,
        messages: Messages,
        commands: CommandRegistry,
        gateway: Gateway,
        settings: Settings,
    ) -> None:
        self.store = store
        self.payloads = payloads
        self.messages = messages
        self.commands = commands
        self.gateway = gateway
        self.settings = settings

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        p = prefix
        ch = p + "/channels/{channel_id:\\d+}"
        msg = ch + "/messages/{message_id:\\d+}"
        app = p + "/applications/{application_id:\\d+}"
        routes = [
            ("GET", p + "/users/@me", self.me),
            ("GET", p + "/users/{user_id:\\d+}", self.get_user),
            ("POST", p + "/users/@me/channels", self.open_dm),
            ("GET", p + "/oauth2/applications/@me", self.app_info),
            ("GET", p + "/gateway", self.gateway_info),
            ("GET", p + "/gateway/bot", self.gateway_bot),
            ("GET", app + "/commands", self.get_commands),
            ("PUT", app + "/commands", self.put_commands),
            ("GET", app + "/guilds/{guild_id:\\d+}/commands", self.get_commands),
            ("PUT", app + "/guilds/{guild_id:\\d+}/commands", self.put_commands),
            ("GET", ch, self.get_channel),
            ("GET", ch + "/messages", self.history),
            ("POST", ch + "/messages", self.create_message),
            ("GET", msg, self.get_message),
            ("PATCH", msg, self.edit_message),
            ("DELETE", msg, self.delete_message),
            ("POST", ch + "/typing", self.typing),
            ("POST", msg + "/threads", self.thread_from_message),
            ("POST", ch + "/threads", self.thread_without_message),
            ("PUT", msg + "/reactions/{emoji}/{user}", self.react),
            ("DELETE", msg + "/reactions/{emoji}/{user}", self.unreact),
            ("GET", p + "/guilds/{guild_id:\\d+}", self.get_guild),
            ("GET", p + "/guilds/{guild_id:\\d+}/channels", self.guild_channels),
            ("GET", p + "/guilds/{guild_id:\\d+}/roles", self.guild_roles),
            ("GET", p + "/guilds/{guild_id:\\d+}/members/{user_id:\\d+}", self.get_member),
        ]
        for method, path, handler in routes:
            router.add_route(method, path, handler)
        router.add_get("/attachments/{scope}/{attachment_id:\\d+}/{filename}", self.attachment)

    # -- lookups that answer Discord's 404 codes --------------------------------------------
    def _channel(self, request: web.Request) -> Channel:
        channel = self.store.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordError(404, 10003)
        return channel

    def _message(self, request: web.Request) -> Message:
        channel = self._channel(request)
        message = self.store.messages.get(int(request.match_info["message_id"]))
        # Ephemeral messages cannot be reached through channel routes, only through webhooks.
        if (
            message is None
            or message.deleted
            or message.ephemeral
            or message.channel_id != channel.id
        ):
            raise DiscordError(404, 10008)
        return message

    # -- login and gateway -----------------------------------------------------------------
    async def me(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.user(self.store.user(self.store.bot_user_id)))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.store.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise DiscordError(404, 10013)
        return json_response(self.payloads.user(user))

    async def open_dm(self, request: web.Request) -> web.Response:
        recipient = int(request[BODY_KEY].object().get("recipient_id") or 0)
        if recipient not in self.store.users:
            raise DiscordError(404, 10013)
        return json_response(self.payloads.channel(self.store.dm_channel(recipient)))

    async def app_info(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.app_info(self.settings.owner_id))

    async def gateway_info(self, request: web.Request) -> web.Response:
        return json_response({"url": self.settings.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.settings.gateway_url,
                "shards": self.settings.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            }
        )

    # -- application commands --------------------------------------------------------------
    def _scope(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.settings.application_id:
            raise DiscordError(404, 10002)
        raw = request.match_info.get("guild_id")
        if raw is not None and int(raw) not in self.store.guilds:
            raise DiscordError(403, 50001)
        return int(raw) if raw is not None else None

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands.list(self._scope(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        return json_response(self.commands.put(scope, request[BODY_KEY].json))

    # -- channels and messages -------------------------------------------------------------
    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.channel(self._channel(request)))

    async def history(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        try:
            limit = max(1, min(100, int(request.query.get("limit", 50))))
            before, after = (int(request.query.get(k) or 0) for k in ("before", "after"))
        except ValueError:
            raise DiscordError(400, 50035) from None
        visible = [m for m in self.store.channel_messages(channel.id) if not m.ephemeral]
        if before:
            visible = [m for m in visible if m.id < before]
        if after:
            visible = [m for m in visible if m.id > after][:limit]
        page = list(reversed(visible))[:limit]  # newest first, as Discord returns them
        return json_response([self.payloads.message(m) for m in page])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self.messages.create(channel, self.store.bot_user_id, request[BODY_KEY])
        return json_response(self.payloads.message(message))

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.message(self._message(request)))

    async def edit_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        if message.author_id != self.store.bot_user_id or message.webhook_id is not None:
            raise DiscordError(403, 50005)
        self.messages.edit(message, request[BODY_KEY])
        return json_response(self.payloads.message(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        self.messages.delete(self._message(request))
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def react(self, request: web.Request) -> web.Response:
        message = self._message(request)
        message.reactions.append((request.match_info["emoji"], self.store.bot_user_id))
        return no_content()

    async def unreact(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = request.match_info["emoji"]
        message.reactions = [r for r in message.reactions if r[0] != emoji]
        return no_content()

    # -- threads ---------------------------------------------------------------------------
    def _new_thread(self, parent: Channel, name: str, kind: int, thread_id: int | None) -> Channel:
        if parent.type == DM or parent.type in THREAD_TYPES:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        thread = self.store.add_channel(
            parent.guild_id,
            name,
            type=kind,
            parent_id=parent.id,
            owner_id=self.store.bot_user_id,
            channel_id=thread_id,
        )
        data = {**self.payloads.channel(thread), "newly_created": True}
        self.gateway.dispatch(parent.guild_id, "THREAD_CREATE", data, intent=INTENT_GUILDS)
        return thread

    async def thread_from_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        if message.thread_id is not None:
            raise DiscordError(400, 160004)
        name = _thread_name(request[BODY_KEY].object())
        # A thread started from a message shares the message's id, as on Discord.
        thread = self._new_thread(self._channel(request), name, PUBLIC_THREAD, message.id)
        message.thread_id = thread.id
        self.messages.dispatch("MESSAGE_UPDATE", message)
        return json_response(self.payloads.channel(thread))

    async def thread_without_message(self, request: web.Request) -> web.Response:
        data = request[BODY_KEY].object()
        kind = int(data.get("type") or PRIVATE_THREAD)
        if kind not in THREAD_TYPES:
            raise DiscordError(400, 50035)
        name = _thread_name(data)
        thread = self._new_thread(self._channel(request), name, kind, None)
        return json_response(self.payloads.channel(thread))

    # -- guilds ----------------------------------------------------------------------------
    def _guild_id(self, request: web.Request) -> int:
        gid = int(request.match_info["guild_id"])
        if gid not in self.store.guilds:
            raise DiscordError(404, 10004)
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        return json_response(self.payloads.guild_preview(self.store.guild(self._guild_id(request))))

    async def guild_channels(self, request: web.Request) -> web.Response:
        guild = self.store.guild(self._guild_id(request))
        channels = [self.store.channels[c] for c in guild.channel_ids]
        return json_response(
            [self.payloads.channel(c) for c in channels if c.type not in THREAD_TYPES]
        )

    async def guild_roles(self, request: web.Request) -> web.Response:
        guild = self.store.guild(self._guild_id(request))
        return json_response([self.payloads.role(self.store.roles[r]) for r in guild.role_ids])

    async def get_member(self, request: web.Request) -> web.Response:
        gid, uid = self._guild_id(request), int(request.match_info["user_id"])
        if (gid, uid) not in self.store.members:
            raise DiscordError(404, 10007)
        return json_response(self.payloads.member(gid, uid))

    # -- the CDN ---------------------------------------------------------------------------
    async def attachment(self, request: web.Request) -> web.Response:
        attachment = self.store.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or not self.payloads.cdn.valid(request.path, request.query):
            # Discord's answer to an unsigned, tampered or expired link, as to a missing file.
            return web.Response(status=404, text=GONE)
        rate = self.settings.cdn_bytes_per_second
        if rate <= 0:
            return web.Response(body=attachment.data, content_type=attachment.content_type)
        # A slow CDN: the body trickles in at ``rate``, as a large file does on a slow link.
        response = web.StreamResponse(headers={"Content-Type": attachment.content_type})
        response.content_length = len(attachment.data)
        await response.prepare(request)
        chunk = max(1, int(rate / 10))
        for start in range(0, len(attachment.data), chunk):
            await response.write(attachment.data[start : start + chunk])
            await asyncio.sleep(0.1)
        await response.write_eof()
        return response


def _thread_name(data: dict[str, Any]) -> str:
    if errors := thread_errors(data):
        raise invalid_form(errors)
    return str(data["name"])
