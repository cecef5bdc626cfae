"""The one factory for every JSON payload the sandbox sends.

discord.py raises KeyError inside the gateway loop (and stops the bot) when a required key is
missing, so every payload is built here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from .cdn import CdnSigner
from .mentions import pinged
from .state import DM, THREAD_TYPES, Attachment, Channel, Guild, Message, Role, Store, User

# The per-file limit of a server without boosts (10 MiB), what interactions report as
# ``attachment_size_limit`` there; boosted servers get more (``set_attachment_size_limit``).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
# Whatever the per-file limit, one request carries at most this much (Discord documents 25 MiB).
MAX_REQUEST_BYTES = 25 * 1024 * 1024


class Payloads:
    def __init__(self, store: Store, application_id: int) -> None:
        self.store = store
        self.application_id = application_id
        # The upload limit of guilds that set none, and of DMs.
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT
        # Every attachment link a payload carries is signed afresh, as Discord's are.
        self.cdn = CdnSigner(store.clock)

    def attachment_limit(self, guild_id: int | None) -> int:
        """The largest file the bot may upload in a guild: what interactions report as
        ``attachment_size_limit`` and what message uploads are held to."""
        guild = self.store.guilds.get(guild_id) if guild_id is not None else None
        if guild is not None and guild.attachment_size_limit is not None:
            return guild.attachment_size_limit
        return self.attachment_size_limit

    # -- users, members, roles -------------------------------------------------------------
    def user(self, user: User) -> dict[str, Any]:
        return {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0",
            "global_name": user.global_name,
            "avatar": None,
            "bot": user.bot,
            "public_flags": 0,
            "flags": 0,
        }

    def member(
        self, guild_id: int, user_id: int, *, with_user: bool = True, with_permissions: bool = False
    ) -> dict[str, Any]:
        member = self.store.member(guild_id, user_id)
        data: dict[str, Any] = {
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "joined_at": self.store.clock.iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user(self.store.user(user_id))
        if with_permissions:
            data["permissions"] = str(self.store.permissions(guild_id, user_id))
        return data

    def role(self, role: Role) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": False,
            "flags": 0,
        }
        if role.bot_id is not None:
            data["tags"] = {"bot_id": str(role.bot_id)}
        return data

    # -- channels and guilds ---------------------------------------------------------------
    def channel(self, channel: Channel) -> dict[str, Any]:
        last = str(channel.last_message_id) if channel.last_message_id else None
        if channel.type == DM:
            recipient = self.store.user(channel.recipient_id or 0)
            return {
                "id": str(channel.id),
                "type": DM,
                "last_message_id": last,
                "recipients": [self.user(recipient)],
                "flags": 0,
            }
        data: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": channel.topic,
            "rate_limit_per_user": 0,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "last_message_id": last,
            "flags": 0,
        }
        if channel.type in THREAD_TYPES:
            data.update(
                owner_id=str(channel.owner_id),
                message_count=channel.message_count,
                total_message_sent=channel.message_count,
                member_count=1,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": self.store.clock.iso(channel.created_at),
                    "locked": False,
                    "create_timestamp": self.store.clock.iso(channel.created_at),
                },
            )
            del data["position"], data["permission_overwrites"], data["topic"]
        return data

    def channel_with_permissions(self, channel: Channel, user_id: int) -> dict[str, Any]:
        """The channel as interactions carry it: with the user's resolved permissions."""
        data = self.channel(channel)
        if channel.guild_id is not None:
            data["permissions"] = str(self.store.permissions(channel.guild_id, user_id))
        return data

    def guild_create(self, guild: Guild) -> dict[str, Any]:
        channels = [self.store.channels[c] for c in guild.channel_ids]
        members = [self.member(guild.id, uid) for uid in guild.member_ids]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.locale,
            "system_channel_id": str(guild.default_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "features": [],
            "roles": [self.role(self.store.roles[r]) for r in guild.role_ids],
            "emojis": [],
            "stickers": [],
            "joined_at": self.store.clock.iso(guild.created_at),
            "large": False,
            # No "unavailable" key: with `false` discord.py reports a late guild as
            # guild_available (outage recovery) instead of guild_join.
            # Equal to len(members): otherwise a client with the members intent starts chunking.
            "member_count": len(members),
            "members": members,
            "channels": [self.channel(c) for c in channels if c.type not in THREAD_TYPES],
            "threads": [self.channel(c) for c in channels if c.type in THREAD_TYPES],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_progress_bar_enabled": False,
        }

    def guild_preview(self, guild: Guild) -> dict[str, Any]:
        """`GET /guilds/{id}`: the guild without members, channels or threads."""
        data = self.guild_create(guild)
        for key in ("members", "channels", "threads", "voice_states", "presences", "joined_at"):
            data.pop(key, None)
        return data

    # -- messages --------------------------------------------------------------------------
    def attachment(self, attachment: Attachment) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "url": self.cdn.sign(attachment.url),
            "proxy_url": self.cdn.sign(attachment.url),
            "content_type": attachment.content_type,
            "description": attachment.description,
        }
        if attachment.duration_secs is not None:
            data["duration_secs"] = attachment.duration_secs
            data["waveform"] = attachment.waveform
        return data

    def message(self, message: Message, *, for_gateway: bool = False) -> dict[str, Any]:
        users, roles, everyone = pinged(
            message.content, message.allowed_mentions, reply_to=message.reply_author_id
        )
        mentioned = [self.user(self.store.users[u]) for u in users if u in self.store.users]
        data: dict[str, Any] = {
            "id": str(message.id),
            "type": message.type,
            "content": message.content,
            "channel_id": str(message.channel_id),
            "author": self.user(self.store.user(message.author_id)),
            "timestamp": self.store.clock.iso(message.created_at),
            "edited_timestamp": (
                self.store.clock.iso(message.edited_at) if message.edited_at is not None else None
            ),
            "tts": message.tts,
            "mention_everyone": everyone,
            "mentions": mentioned,
            "mention_roles": [str(r) for r in roles],
            "attachments": [self.attachment(a) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "flags": message.flags,
        }
        if message.nonce is not None:
            data["nonce"] = message.nonce
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
        if message.application_id is not None:
            data["application_id"] = str(message.application_id)
        if message.interaction_metadata is not None:
            data["interaction_metadata"] = message.interaction_metadata
        if message.message_reference is not None:
            data["message_reference"] = message.message_reference
        if message.poll is not None:
            data["poll"] = message.poll
        if message.thread_id is not None and message.thread_id in self.store.channels:
            data["thread"] = self.channel(self.store.channels[message.thread_id])
        if for_gateway and message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
            if message.webhook_id is None and (message.guild_id, message.author_id) in (
                self.store.members
            ):
                data["member"] = self.member(message.guild_id, message.author_id, with_user=False)
        return data

    # -- login and gateway -----------------------------------------------------------------
    def app_info(self, owner_id: int) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "Atelier Sandbox",
            "description": "A local stand-in for Discord.",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user(self.store.user(owner_id)),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
            "interactions_endpoint_url": None,
            "bot": self.user(self.store.user(self.store.bot_user_id)),
        }

    def ready(
        self, session_id: str, shard: tuple[int, int], guild_ids: list[int], resume_url: str
    ) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.user(self.store.user(self.store.bot_user_id)),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": resume_url,
            "shard": list(shard),
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["atelier-sandbox"],
        }
