"""Typing a test's `options={name: value}` by the synced definition, as Discord's client does.

The client only lets a member submit what the definition allows (required options, choices,
ranges, channel types), and sends users, roles, channels and attachments as snowflakes with a
`resolved` entry. Values that a real client could not send raise ValueError here.
"""

from __future__ import annotations

from typing import Any

from .messages import Messages
from .payloads import Payloads
from .state import Channel, Store

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE = 3, 4, 5, 6, 7, 8
MENTIONABLE, NUMBER, ATTACHMENT = 9, 10, 11


def _empty_resolved() -> dict[str, dict[str, Any]]:
    return {"users": {}, "members": {}, "roles": {}, "channels": {}, "attachments": {}}


class OptionBuilder:
    def __init__(self, store: Store, payloads: Payloads, messages: Messages) -> None:
        self.store = store
        self.payloads = payloads
        self.messages = messages

    def build(
        self,
        leaf: dict[str, Any],
        options: dict[str, Any],
        channel: Channel,
        user_id: int,
        *,
        attachments: list[tuple[str, bytes, str]] | None = None,
        focused: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        defs = {o["name"]: o for o in leaf.get("options") or []}
        given = dict(options)
        unknown = set(given) - set(defs)
        if unknown:
            raise ValueError(f"/{leaf['name']} has no options {sorted(unknown)}")
        pending = list(attachments or [])
        for name, d in defs.items():
            if d["type"] == ATTACHMENT and name not in given and pending:
                given[name] = pending.pop(0)
        if pending:
            raise ValueError(
                f"/{leaf['name']} has no attachment option left for {len(pending)} file(s)"
            )
        if focused is not None:
            if focused not in defs or not defs[focused].get("autocomplete"):
                raise ValueError(f"option {focused!r} of /{leaf['name']} has no autocomplete")
            given.setdefault(focused, "")
        else:
            missing = [n for n, d in defs.items() if d.get("required") and n not in given]
            if missing:
                raise ValueError(f"/{leaf['name']} requires {missing}")
        resolved = _empty_resolved()
        out = []
        for name, d in defs.items():
            if name not in given:
                continue
            if name == focused:
                # The member is still typing: Discord sends the partial text, untyped.
                out.append(
                    {"name": name, "type": d["type"], "value": str(given[name]), "focused": True}
                )
                continue
            value = self._convert(d, given[name], channel, resolved)
            out.append({"name": name, "type": d["type"], "value": value})
        return out, resolved

    def _convert(
        self, d: dict[str, Any], value: Any, channel: Channel, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        name, otype = d["name"], d["type"]
        if otype == STRING:
            value = str(value)
            low, high = d.get("min_length", 0), d.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise ValueError(f"option {name!r} takes {low}..{high} characters")
        elif otype in (INTEGER, NUMBER):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"option {name!r} takes a number, not {value!r}")
            if otype == INTEGER and int(value) != value:
                raise ValueError(f"option {name!r} takes an integer, not {value!r}")
            value = int(value) if otype == INTEGER else float(value)
            low, high = d.get("min_value"), d.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"option {name!r} takes {low}..{high}")
        elif otype == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(f"option {name!r} takes a bool, not {value!r}")
        elif otype == ATTACHMENT:
            return self._attachment(value, resolved)
        else:
            return self._snowflake(d, int(value), channel, resolved)
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r} must be one of {[c['value'] for c in choices]}")
        return value

    def _snowflake(
        self, d: dict[str, Any], sid: int, channel: Channel, resolved: dict[str, dict[str, Any]]
    ) -> str:
        otype, guild_id = d["type"], channel.guild_id
        if otype in (USER, MENTIONABLE) and sid in self.store.users:
            resolved["users"][str(sid)] = self.payloads.user(self.store.users[sid])
            if guild_id is not None and (guild_id, sid) in self.store.members:
                member = self.payloads.member(guild_id, sid, with_user=False, with_permissions=True)
                resolved["members"][str(sid)] = member
        elif otype in (ROLE, MENTIONABLE) and sid in self.store.roles:
            role = self.store.roles[sid]
            if role.guild_id != guild_id:
                raise ValueError(f"role {sid} is not in this guild")
            resolved["roles"][str(sid)] = self.payloads.role(role)
        elif otype == CHANNEL and sid in self.store.channels:
            target = self.store.channels[sid]
            if target.guild_id != guild_id:
                raise ValueError(f"channel {sid} is not in this guild")
            types = d.get("channel_types")
            if types and target.type not in types:
                raise ValueError(f"option {d['name']!r} takes channel types {types}")
            resolved["channels"][str(sid)] = self.payloads.channel_with_permissions(
                target, self.store.bot_user_id
            )
        else:
            raise ValueError(f"option {d['name']!r}: {sid} is not a valid target")
        return str(sid)

    def _attachment(self, value: Any, resolved: dict[str, dict[str, Any]]) -> str:
        if isinstance(value, int) and value in self.store.attachments:
            attachment = self.store.attachments[value]
        else:
            filename, data, content_type = value
            attachment = self.messages.store_file("ephemeral", filename, data, content_type)
        resolved["attachments"][str(attachment.id)] = self.payloads.attachment(attachment)
        return str(attachment.id)
