"""The sandbox's world: users, guilds, channels, roles, members and messages.

Plain dataclasses plus one `Store` that owns them. Nothing here speaks HTTP or the gateway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .permissions import ADMINISTRATOR, ALL_PERMISSIONS, BOT_PERMISSIONS, DEFAULT_MEMBER

DISCORD_EPOCH_MS = 1420070400000
# Guild ids get a timestamp part congruent to their index modulo this, so that guilds spread
# round-robin over any shard count that divides it: `(guild_id >> 22) % count`.
SHARD_SPREAD = 64

TEXT, DM, PUBLIC_THREAD, PRIVATE_THREAD, NEWS_THREAD = 0, 1, 11, 12, 10
THREAD_TYPES = (NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD)


class Clock:
    """Monotonic seconds since the sandbox started, mapped onto wall time only for payloads."""

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = time.time()

    def now(self) -> float:
        return time.monotonic() - self._mono0

    def epoch(self, t: float | None = None) -> float:
        return self._wall0 + (self.now() if t is None else t)

    def iso(self, t: float) -> str:
        return datetime.fromtimestamp(self.epoch(t), UTC).isoformat()


class Snowflakes:
    """Strictly increasing snowflake ids whose timestamps follow the sandbox clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_ms = 0
        self._increment = 0
        self._guilds = 0

    def _ms(self) -> int:
        return int(self._clock.epoch() * 1000) - DISCORD_EPOCH_MS

    def next(self) -> int:
        ms = max(self._ms(), self._last_ms)
        if ms == self._last_ms:
            self._increment += 1
            if self._increment >= 4096:
                ms, self._increment = ms + 1, 0
        else:
            self._increment = 0
        self._last_ms = ms
        return (ms << 22) | (1 << 17) | self._increment

    def next_guild(self) -> int:
        ms = max(self._ms(), self._last_ms + 1)
        ms += (self._guilds - ms) % SHARD_SPREAD
        self._guilds += 1
        self._last_ms, self._increment = ms, 0
        return (ms << 22) | (1 << 17)


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    locale: str = "en-US"
    global_name: str | None = None


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None


@dataclass
class Member:
    guild_id: int
    user_id: int
    roles: list[int]
    joined_at: float
    permissions: int | None = None  # what Discord resolves for interactions; None: from roles
    nick: str | None = None


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    owner_id: int | None = None
    recipient_id: int | None = None
    topic: str | None = None
    created_at: float = 0.0
    last_message_id: int | None = None
    message_count: int = 0


@dataclass
class Guild:
    id: int
    name: str
    locale: str
    owner_id: int
    default_channel_id: int = 0
    channel_ids: list[int] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    role_ids: list[int] = field(default_factory=list)
    bot_role_id: int = 0
    created_at: float = 0.0
    # What the bot may upload here (boosts raise it on Discord); None: the sandbox's default.
    attachment_size_limit: int | None = None


@dataclass
class Attachment:
    id: int
    filename: str
    size: int
    content_type: str
    url: str  # unsigned: every payload signs it afresh (cdn.py), as Discord does
    data: bytes = field(repr=False)
    description: str | None = None
    # A voice message's (read only from an audio/* upload, as Discord does).
    duration_secs: float | None = None
    waveform: str | None = None


@dataclass
class Message:
    """A message as a member would see it, plus the bookkeeping tests assert on."""

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    ephemeral: bool = False
    ephemeral_to: int | None = None
    interaction_id: int | None = None
    created_at: float = 0.0
    edited_at: float | None = None
    deleted: bool = False
    # One (t, content, embeds) snapshot per create and edit, to measure staleness.
    history: list[tuple[float, str, list[dict[str, Any]]]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    type: int = 0
    guild_id: int | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    message_reference: dict[str, Any] | None = None
    reply_author_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    tts: bool = False
    thread_id: int | None = None
    reactions: list[tuple[str, int]] = field(default_factory=list)
    poll: dict[str, Any] | None = None
    nonce: str | None = None

    def snapshot(self, t: float) -> None:
        self.history.append((t, self.content, [dict(e) for e in self.embeds]))


class Store:
    """Owns every entity; lookups raise LookupError with a readable message."""

    def __init__(self, clock: Clock, ids: Snowflakes, bot_user: User) -> None:
        self.clock = clock
        self.ids = ids
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.roles: dict[int, Role] = {}
        self.members: dict[tuple[int, int], Member] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.bot_user_id = bot_user.id

    # -- lookups ---------------------------------------------------------------------------
    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[int(guild_id)]
        except KeyError:
            raise LookupError(f"unknown guild {guild_id}") from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[int(channel_id)]
        except KeyError:
            raise LookupError(f"unknown channel {channel_id}") from None

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except KeyError:
            raise LookupError(f"unknown user {user_id}") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        try:
            return self.members[(int(guild_id), int(user_id))]
        except KeyError:
            raise LookupError(f"user {user_id} is not a member of guild {guild_id}") from None

    def role(self, role_id: int) -> Role:
        try:
            return self.roles[int(role_id)]
        except KeyError:
            raise LookupError(f"unknown role {role_id}") from None

    def message(self, message_id: int) -> Message:
        try:
            return self.messages[int(message_id)]
        except KeyError:
            raise LookupError(f"unknown message {message_id}") from None

    # -- creation --------------------------------------------------------------------------
    def add_user(self, username: str, *, locale: str = "en-US", bot: bool = False) -> User:
        user = User(self.ids.next(), username, bot=bot, locale=locale)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, locale: str, owner_name: str) -> Guild:
        gid = self.ids.next_guild()
        owner = self.add_user(owner_name, locale=locale)
        guild = Guild(gid, name, locale, owner.id, created_at=self.clock.now())
        self.guilds[gid] = guild
        # @everyone shares the guild's id, as on Discord.
        self.roles[gid] = Role(gid, gid, "@everyone", DEFAULT_MEMBER)
        guild.role_ids.append(gid)
        bot_role = self.add_role(gid, "Atelier", BOT_PERMISSIONS, managed=True)
        bot_role.bot_id = self.bot_user_id
        guild.bot_role_id = bot_role.id
        self.add_member(gid, owner.id)
        self.add_member(gid, self.bot_user_id, roles=[bot_role.id])
        guild.default_channel_id = self.add_channel(gid, "general").id
        return guild

    def add_role(
        self, guild_id: int, name: str, permissions: int, *, managed: bool = False
    ) -> Role:
        guild = self.guild(guild_id)
        role = Role(self.ids.next(), guild.id, name, permissions, len(guild.role_ids), managed)
        self.roles[role.id] = role
        guild.role_ids.append(role.id)
        return role

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: list[int] | None = None,
        permissions: int | None = None,
    ) -> Member:
        guild = self.guild(guild_id)
        for rid in roles or []:
            if self.role(rid).guild_id != guild.id:
                raise LookupError(f"role {rid} is not in guild {guild.id}")
        member = Member(guild.id, self.user(user_id).id, list(roles or []), self.clock.now())
        member.permissions = permissions
        self.members[(guild.id, member.user_id)] = member
        guild.member_ids.append(member.user_id)
        return member

    def add_channel(
        self,
        guild_id: int | None,
        name: str,
        *,
        type: int = TEXT,
        parent_id: int | None = None,
        owner_id: int | None = None,
        channel_id: int | None = None,
    ) -> Channel:
        guild = self.guild(guild_id) if guild_id is not None else None
        siblings = [c for c in self.channels.values() if c.guild_id == guild_id]
        channel = Channel(
            channel_id or self.ids.next(),
            type,
            name,
            guild.id if guild else None,
            parent_id,
            len(siblings),
            owner_id,
            created_at=self.clock.now(),
        )
        self.channels[channel.id] = channel
        if guild is not None:
            guild.channel_ids.append(channel.id)
        return channel

    def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user, opened on first use."""
        user = self.user(user_id)
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient_id == user.id:
                return channel
        channel = self.add_channel(None, user.username, type=DM)
        channel.recipient_id = user.id
        return channel

    # -- permissions -----------------------------------------------------------------------
    def permissions(self, guild_id: int, user_id: int) -> int:
        """What Discord would resolve for this member (channel overwrites are not modelled)."""
        guild = self.guild(guild_id)
        if guild.owner_id == user_id:
            return ALL_PERMISSIONS
        member = self.member(guild_id, user_id)
        if member.permissions is not None:
            value = member.permissions
        else:
            value = self.roles[guild.id].permissions
            for rid in member.roles:
                value |= self.role(rid).permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    # -- messages --------------------------------------------------------------------------
    def channel_messages(
        self, channel_id: int, *, include_deleted: bool = False, include_threads: bool = False
    ) -> list[Message]:
        wanted = {int(channel_id)}
        if include_threads:
            wanted |= {c.id for c in self.channels.values() if c.parent_id == int(channel_id)}
        return [
            m
            for m in self.messages.values()
            if m.channel_id in wanted and (include_deleted or not m.deleted)
        ]
