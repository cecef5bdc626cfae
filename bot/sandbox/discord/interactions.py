"""Building INTERACTION_CREATE payloads for what a member does: slash commands, autocomplete,
button clicks and modal submits, and the handles tests hold on to while the bot answers."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from .commands import SUB_COMMAND_GROUP, CommandRegistry, Found
from .messages import Messages
from .options import OptionBuilder
from .payloads import Payloads
from .permissions import ADMINISTRATOR, BOT_PERMISSIONS
from .state import Channel, Store
from .validation import walk_components

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
SELECT_TYPES = (3, 5, 6, 7, 8)


@dataclass(eq=False)
class InteractionHandle:
    """One injected interaction; fields fill in as the bot answers it."""

    id: int
    token: str
    type: int
    name: str  # "credit balance" for commands, the custom_id for components and modals
    user_id: int
    guild_id: int | None
    channel_id: int
    created_at: float
    payload: dict[str, Any] = field(repr=False)
    message_id: int | None = None  # the message a component (or the modal's opener) sits on
    response_type: int | None = None
    responded_at: float | None = None
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False  # the ack deadline passed; the token is dead
    _responded: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def responded(self) -> bool:
        return self.response_type is not None

    async def wait_response(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109 (public API)
        """Wait until the bot called the callback route; returns the callback type."""
        try:
            await asyncio.wait_for(self._responded.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"interaction {self.name!r} got no callback in {timeout}s") from None
        assert self.response_type is not None
        return self.response_type

    def mark_responded(self, callback_type: int, now: float) -> None:
        self.response_type, self.responded_at = callback_type, now
        self._responded.set()


@dataclass
class OpenModal:
    definition: dict[str, Any]
    message_id: int | None


class InteractionRegistry:
    def __init__(self) -> None:
        self.by_id: dict[int, InteractionHandle] = {}
        self.by_token: dict[str, InteractionHandle] = {}
        # Modals a bot has shown, keyed by (user, custom_id) like discord.py's modal store.
        self.modals: dict[tuple[int, str], OpenModal] = {}

    def add(self, handle: InteractionHandle) -> None:
        self.by_id[handle.id] = handle
        self.by_token[handle.token] = handle


class InteractionFactory:
    def __init__(
        self,
        store: Store,
        payloads: Payloads,
        commands: CommandRegistry,
        messages: Messages,
        registry: InteractionRegistry,
    ) -> None:
        self.store = store
        self.payloads = payloads
        self.commands = commands
        self.registry = registry
        self.options = OptionBuilder(store, payloads, messages)

    def _channel(self, guild_id: int | None, channel_id: int | None, user_id: int) -> Channel:
        if guild_id is None:
            channel = self.store.dm_channel(user_id)
            if channel_id is not None and int(channel_id) != channel.id:
                raise LookupError(f"channel {channel_id} is not the DM with user {user_id}")
            return channel
        self.store.member(guild_id, user_id)
        if channel_id is None:
            return self.store.channel(self.store.guild(guild_id).default_channel_id)
        channel = self.store.channel(channel_id)
        if channel.guild_id != int(guild_id):
            raise LookupError(f"channel {channel_id} is not in guild {guild_id}")
        return channel

    def _base(
        self,
        itype: int,
        name: str,
        guild_id: int | None,
        channel: Channel,
        user_id: int,
        locale: str | None,
    ) -> InteractionHandle:
        user = self.store.user(user_id)
        iid = self.store.ids.next()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.payloads.application_id),
            "type": itype,
            "token": secrets.token_urlsafe(32),
            "version": 1,
            "attachment_size_limit": self.payloads.attachment_limit(guild_id),
            "locale": locale or user.locale,
            "entitlements": [],
            "channel_id": str(channel.id),
            "channel": self.payloads.channel_with_permissions(channel, user_id),
        }
        if guild_id is not None:
            guild = self.store.guild(guild_id)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.locale, "features": []},
                guild_locale=guild.locale,
                member=self.payloads.member(guild.id, user_id, with_permissions=True),
                app_permissions=str(self.store.permissions(guild.id, self.store.bot_user_id)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=self.payloads.user(user),
                app_permissions=str(BOT_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        handle = InteractionHandle(
            iid,
            payload["token"],
            itype,
            name,
            user.id,
            int(guild_id) if guild_id is not None else None,
            channel.id,
            self.store.clock.now(),
            payload,
        )
        self.registry.add(handle)
        return handle

    # -- application commands --------------------------------------------------------------
    def _find(self, guild_id: int | None, user_id: int, command: str) -> Found:
        words = command.strip().lstrip("/").split()
        if not words:
            raise ValueError("empty command")
        found = self.commands.find(guild_id, words)
        cmd = found.command
        if guild_id is None and (
            cmd.get("dm_permission") is False
            or (cmd.get("contexts") is not None and 1 not in cmd["contexts"])
        ):
            raise LookupError(f"/{words[0]} is not available in DMs")
        required = cmd.get("default_member_permissions")
        if guild_id is not None and required is not None:
            have, need = self.store.permissions(guild_id, user_id), int(required)
            # "0" hides the command from everyone but administrators, as on Discord.
            if not have & ADMINISTRATOR and (need == 0 or need & ~have):
                raise PermissionError(f"user {user_id} cannot see /{words[0]} (needs {need})")
        return found

    def _command_data(
        self, found: Found, options: list[dict[str, Any]], resolved: dict[str, Any]
    ) -> dict[str, Any]:
        nested = options
        node: dict[str, Any] = found.command
        chain = []
        for word in found.path:
            node = next(o for o in node.get("options") or [] if o["name"] == word)
            chain.append(node)
        for sub in reversed(chain):
            wrapper: dict[str, Any] = {"name": sub["name"], "type": sub["type"]}
            if sub["type"] == SUB_COMMAND_GROUP or nested:
                wrapper["options"] = nested
            nested = [wrapper]
        data: dict[str, Any] = {
            "id": found.command["id"],
            "name": found.command["name"],
            "type": 1,
        }
        if nested:
            data["options"] = nested
        if any(resolved.values()):
            data["resolved"] = {k: v for k, v in resolved.items() if v}
        if found.guild_id is not None:
            data["guild_id"] = str(found.guild_id)
        return data

    def slash(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        command: str,
        options: dict[str, Any] | None,
        locale: str | None,
        attachments: list[tuple[str, bytes, str]] | None,
    ) -> InteractionHandle:
        found = self._find(guild_id, user_id, command)
        channel = self._channel(guild_id, channel_id, user_id)
        opts, resolved = self.options.build(
            found.leaf, options or {}, channel, user_id, attachments=attachments
        )
        handle = self._base(
            APPLICATION_COMMAND,
            " ".join([found.command["name"], *found.path]),
            guild_id,
            channel,
            user_id,
            locale,
        )
        handle.payload["data"] = self._command_data(found, opts, resolved)
        return handle

    def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        command: str,
        options: dict[str, Any] | None,
        focused: str,
        locale: str | None,
    ) -> InteractionHandle:
        found = self._find(guild_id, user_id, command)
        channel = self._channel(guild_id, channel_id, user_id)
        opts, resolved = self.options.build(
            found.leaf, options or {}, channel, user_id, focused=focused
        )
        handle = self._base(
            AUTOCOMPLETE,
            " ".join([found.command["name"], *found.path]),
            guild_id,
            channel,
            user_id,
            locale,
        )
        handle.payload["data"] = self._command_data(found, opts, resolved)
        return handle

    # -- components and modals -------------------------------------------------------------
    def click(
        self,
        message_id: int,
        custom_id: str,
        user_id: int,
        locale: str | None,
        values: list[str] | None,
    ) -> InteractionHandle:
        message = self.store.message(message_id)
        if message.deleted:
            raise LookupError(f"message {message_id} was deleted")
        if message.ephemeral and message.ephemeral_to != int(user_id):
            raise PermissionError(f"message {message_id} is ephemeral to another user")
        component = next(
            (c for c in walk_components(message.components) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            raise LookupError(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        channel = self.store.channel(message.channel_id)
        if channel.guild_id is not None:
            self.store.member(channel.guild_id, user_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in SELECT_TYPES:
            data["values"] = self._select_values(component, values or [])
        handle = self._base(
            MESSAGE_COMPONENT, custom_id, channel.guild_id, channel, user_id, locale
        )
        handle.payload["data"] = data
        handle.payload["message"] = self.payloads.message(message)
        handle.message_id = message.id
        return handle

    @staticmethod
    def _select_values(component: dict[str, Any], values: list[str]) -> list[str]:
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise ValueError(f"select {component['custom_id']!r} takes {low}..{high} values")
        if component["type"] == 3:
            allowed = {o["value"] for o in component.get("options") or []}
            if set(values) - allowed:
                raise ValueError(f"values {sorted(set(values) - allowed)} are not options")
        return [str(v) for v in values]

    def submit_modal(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        custom_id: str,
        values: dict[str, Any],
        message_id: int | None,
        locale: str | None,
    ) -> InteractionHandle:
        opened = self.registry.modals.get((int(user_id), custom_id))
        if opened is None:
            raise LookupError(f"no modal {custom_id!r} is open for user {user_id}")
        channel = self._channel(guild_id, channel_id, user_id)
        remaining = dict(values)
        components = [_submitted(c, remaining) for c in opened.definition.get("components") or []]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no fields {sorted(remaining)}")
        del self.registry.modals[(int(user_id), custom_id)]
        handle = self._base(MODAL_SUBMIT, custom_id, guild_id, channel, user_id, locale)
        handle.payload["data"] = {"custom_id": custom_id, "components": components}
        message_id = message_id if message_id is not None else opened.message_id
        if message_id is not None:
            handle.payload["message"] = self.payloads.message(self.store.message(message_id))
            handle.message_id = int(message_id)
        return handle


def _submitted(component: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What a modal component looks like when the member submits it."""
    ctype = component.get("type")
    if ctype == 1:
        return {
            "type": 1,
            "components": [_field(c, values) for c in component.get("components") or []],
        }
    if ctype == 18:
        return {
            "type": 18,
            "id": component.get("id", 0),
            "component": _field(component["component"], values),
        }
    return {"type": ctype, "id": component.get("id", 0)}


def _field(component: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    custom_id = component.get("custom_id", "")
    given = values.pop(custom_id, None)
    if component.get("type") == 4:
        text = "" if given is None else str(given)
        if component.get("required", True) and not text:
            raise ValueError(f"modal field {custom_id!r} is required")
        low, high = component.get("min_length") or 0, component.get("max_length") or 4000
        if text and not low <= len(text) <= high:
            raise ValueError(f"modal field {custom_id!r} takes {low}..{high} characters")
        return {"type": 4, "id": component.get("id", 0), "custom_id": custom_id, "value": text}
    chosen = [] if given is None else [given] if isinstance(given, str) else list(given)
    return {
        "type": component.get("type"),
        "id": component.get("id", 0),
        "custom_id": custom_id,
        "values": [str(v) for v in chosen],
    }
