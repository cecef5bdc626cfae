"""Message lifecycle: validate a body, store the message, echo it over the gateway."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .mentions import parse_mentions
from .payloads import MAX_REQUEST_BYTES, Payloads
from .permissions import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES
from .request_body import Body, Upload
from .responses import DiscordError, form_error, invalid_form
from .state import Attachment, Channel, Message, Store
from .validation import (
    FLAG_EPHEMERAL,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_VOICE_MESSAGE,
    MAX_ATTACHMENTS,
    SETTABLE_FLAGS,
    check_message,
    check_not_empty,
)

if TYPE_CHECKING:
    from .gateway import Gateway

_FILE_FIELD = re.compile(r"files\[(\d+)\]|file(\d*)$")
# Discord checks an enforced nonce "in the past few minutes" (API docs; the span is not given).
NONCE_WINDOW = 300.0
NONCE_MAX_LENGTH = 25


class Messages:
    def __init__(
        self, store: Store, payloads: Payloads, gateway: Gateway, base_url: Callable[[], str]
    ) -> None:
        self.store = store
        self.payloads = payloads
        self.gateway = gateway
        self._base_url = base_url
        # (channel, author, nonce) → the message created with it, for ``enforce_nonce``.
        self._nonces: dict[tuple[int, int, str], int] = {}

    # -- attachments -----------------------------------------------------------------------
    def store_file(
        self,
        scope: int | str,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        guild_id: int | None = None,
    ) -> Attachment:
        """Keep the bytes and serve them at an http URL on the sandbox, like Discord's CDN."""
        if len(data) > self.payloads.attachment_limit(guild_id):
            raise DiscordError(413, 40005)
        guessed = mimetypes.guess_type(filename)[0]
        if not content_type or content_type == "application/octet-stream":
            content_type = guessed or "application/octet-stream"
        aid = self.store.ids.next()
        url = f"{self._base_url()}/attachments/{scope}/{aid}/{quote(filename)}"
        attachment = Attachment(aid, filename, len(data), content_type, url, data)
        self.store.attachments[aid] = attachment
        return attachment

    def _uploads(
        self, channel_id: int, data: dict[str, Any], uploads: list[Upload]
    ) -> list[Attachment]:
        meta = {str(a.get("id")): a for a in data.get("attachments") or [] if isinstance(a, dict)}
        channel = self.store.channels.get(channel_id)
        guild_id = channel.guild_id if channel is not None else None
        if len(uploads) > MAX_ATTACHMENTS:
            raise invalid_form(
                form_error(["files"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            )
        if sum(len(u.data) for u in uploads) > MAX_REQUEST_BYTES:
            raise DiscordError(413, 40005)
        out = []
        for index, upload in enumerate(uploads):
            match = _FILE_FIELD.match(upload.field)
            key = next((g for g in match.groups() if g), str(index)) if match else str(index)
            if "attachments" in data and key not in meta:
                # payload_json lists every file it sends: files[n] needs attachments[].id == n.
                raise invalid_form(
                    form_error(
                        ["attachments"],
                        "ATTACHMENT_NOT_FOUND",
                        f"files[{key}] has no entry in attachments",
                    )
                )
            info = meta.get(key, {})
            attachment = self.store_file(
                channel_id,
                info.get("filename") or upload.filename,
                upload.data,
                upload.content_type,
                guild_id=guild_id,
            )
            attachment.description = info.get("description")
            if data.get("flags") and int(data["flags"]) & FLAG_VOICE_MESSAGE:
                # check_message has made sure both are there.
                attachment.duration_secs = float(info["duration_secs"])
                attachment.waveform = str(info["waveform"])
            out.append(attachment)
        return out

    # -- create / edit / delete ------------------------------------------------------------
    def create(
        self,
        channel: Channel,
        author_id: int,
        body: Body,
        *,
        type: int = 0,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        ephemeral_to: int | None = None,
        extra_flags: int = 0,
        allow_empty: bool = False,
    ) -> Message:
        data = body.object()
        check_message(data)
        nonce = _nonce(data)
        if data.get("enforce_nonce") and (earlier := self._by_nonce(channel.id, author_id, nonce)):
            return earlier  # a repeat: Discord answers with the first message, makes no other
        attachments = self._uploads(channel.id, data, body.uploads)
        flags = (int(data.get("flags") or 0) & SETTABLE_FLAGS) | extra_flags
        if ephemeral_to is None:
            flags &= ~FLAG_EPHEMERAL
        embeds = list(data.get("embeds") or ([data["embed"]] if data.get("embed") else []))
        content = data.get("content") or ""
        components = list(data.get("components") or [])
        if not allow_empty:
            extra = bool(data.get("sticker_ids") or data.get("poll"))
            check_not_empty(content, embeds, len(attachments), components, extra)
        message = Message(
            id=self.store.ids.next(),
            channel_id=channel.id,
            author_id=author_id,
            content=content,
            embeds=embeds,
            attachments=attachments,
            components=components,
            flags=flags,
            ephemeral=bool(flags & FLAG_EPHEMERAL),
            ephemeral_to=ephemeral_to if flags & FLAG_EPHEMERAL else None,
            interaction_id=interaction_id,
            created_at=self.store.clock.now(),
            allowed_mentions=data.get("allowed_mentions"),
            type=type,
            guild_id=channel.guild_id,
            webhook_id=webhook_id,
            application_id=self.payloads.application_id if webhook_id is not None else None,
            tts=bool(data.get("tts")),
            poll=data.get("poll"),
            interaction_metadata=interaction_metadata,
            nonce=nonce,
        )
        if nonce is not None:
            self._nonces[(channel.id, author_id, nonce)] = message.id
        self._reference(message, data.get("message_reference"))
        message.snapshot(message.created_at)
        self.store.messages[message.id] = message
        if not message.ephemeral:
            channel.last_message_id = message.id
            channel.message_count += 1
            self.dispatch("MESSAGE_CREATE", message)
        return message

    def _by_nonce(self, channel_id: int, author_id: int, nonce: str | None) -> Message | None:
        """The message this author made in this channel with this nonce, if it is recent."""
        if nonce is None:
            return None
        message = self.store.messages.get(self._nonces.get((channel_id, author_id, nonce), 0))
        if message is None or message.deleted:
            return None
        if self.store.clock.now() - message.created_at > NONCE_WINDOW:
            return None
        return message

    def _reference(self, message: Message, ref: dict[str, Any] | None) -> None:
        if not ref or ref.get("type", 0) != 0 or ref.get("message_id") is None:
            return
        target = self.store.messages.get(int(ref["message_id"]))
        if target is None or target.deleted:
            if ref.get("fail_if_not_exists", True):
                raise invalid_form(
                    form_error(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
                )
            return
        message.type = 19 if message.type == 0 else message.type
        message.reply_author_id = target.author_id
        message.message_reference = {
            "type": 0,
            "message_id": str(target.id),
            "channel_id": str(target.channel_id),
        }
        if target.guild_id is not None:
            message.message_reference["guild_id"] = str(target.guild_id)

    def edit(self, message: Message, body: Body, *, clear_flags: int = 0) -> Message:
        """Apply a PATCH: present fields replace, absent fields stay."""
        if message.deleted:
            raise DiscordError(404, 10008)
        data = body.object()
        check_message({"flags": message.flags, **data})
        new = self._uploads(message.channel_id, data, body.uploads)
        if "content" in data:
            message.content = data["content"] or ""
        if "embeds" in data or "embed" in data:
            embeds = data.get("embeds")
            message.embeds = list(
                embeds if embeds is not None else [data["embed"]] if data.get("embed") else []
            )
        if "components" in data:
            message.components = list(data["components"] or [])
        if "allowed_mentions" in data:
            message.allowed_mentions = data["allowed_mentions"]
        if "attachments" in data:
            keep = {str(a.get("id")) for a in data["attachments"] or [] if isinstance(a, dict)}
            message.attachments = [a for a in message.attachments if str(a.id) in keep]
        message.attachments += new
        if data.get("flags") is not None:
            suppress = int(data["flags"]) & FLAG_SUPPRESS_EMBEDS
            message.flags = (message.flags & ~FLAG_SUPPRESS_EMBEDS) | suppress
        message.flags &= ~clear_flags
        check_not_empty(
            message.content,
            message.embeds,
            len(message.attachments),
            message.components,
            bool(message.poll),
        )
        message.edited_at = self.store.clock.now()
        message.snapshot(message.edited_at)
        if not message.ephemeral:
            self.dispatch("MESSAGE_UPDATE", message)
        return message

    def delete(self, message: Message) -> None:
        if message.deleted:
            raise DiscordError(404, 10008)
        message.deleted = True
        if message.ephemeral:
            return
        data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        self.gateway.dispatch(message.guild_id, "MESSAGE_DELETE", data, intent=intent)

    def dispatch(self, event: str, message: Message) -> None:
        users, _, _ = parse_mentions(message.content)
        # Discord sends content without the privileged intent for DMs, the bot's own
        # messages and messages that mention the bot.
        exempt = (
            message.guild_id is None
            or message.author_id == self.store.bot_user_id
            or self.store.bot_user_id in users
        )
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        self.gateway.dispatch(
            message.guild_id,
            event,
            self.payloads.message(message, for_gateway=True),
            intent=intent,
            content_exempt=exempt,
        )


def _nonce(data: dict[str, Any]) -> str | None:
    """A message's nonce as Discord keeps it: an integer or a string of at most 25 characters."""
    nonce = data.get("nonce")
    if nonce is None:
        return None
    if not isinstance(nonce, int | str) or isinstance(nonce, bool):
        raise invalid_form(form_error(["nonce"], "BASE_TYPE_STRING", "Must be a string."))
    text = str(nonce)
    if not 1 <= len(text) <= NONCE_MAX_LENGTH:
        raise invalid_form(
            form_error(["nonce"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
        )
    return text
