"""Mention parsing and Discord's allowed_mentions rules."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Message

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")


def parse_mentions(content: str) -> tuple[list[int], list[int], bool]:
    """(user ids, role ids, whether @everyone/@here appears) in the order they appear."""
    users = list(dict.fromkeys(int(m) for m in USER_MENTION.findall(content)))
    roles = list(dict.fromkeys(int(m) for m in ROLE_MENTION.findall(content)))
    return users, roles, bool(EVERYONE_MENTION.search(content))


def pinged(
    content: str, allowed: dict[str, Any] | None, *, reply_to: int | None = None
) -> tuple[list[int], list[int], bool]:
    """Who the content actually notifies: (user ids, role ids, everyone).

    Without allowed_mentions Discord parses everything; with it, only the kinds listed in
    `parse` plus the ids listed in `users`/`roles`, so `{"parse": []}` or `{}` pings nobody.
    A reply pings its author unless allowed_mentions is present without `replied_user`.
    """
    users, roles, everyone = parse_mentions(content)
    if allowed is None:
        reply_users = [reply_to] if reply_to is not None else []
        return list(dict.fromkeys(users + reply_users)), roles, everyone
    parse = set(allowed.get("parse") or [])
    listed_users = {int(u) for u in allowed.get("users") or []}
    listed_roles = {int(r) for r in allowed.get("roles") or []}
    users = [u for u in users if "users" in parse or u in listed_users]
    roles = [r for r in roles if "roles" in parse or r in listed_roles]
    if reply_to is not None and allowed.get("replied_user"):
        users = list(dict.fromkeys([*users, reply_to]))
    return users, roles, everyone and "everyone" in parse


def mentions_pinged(message: Message) -> bool:
    """Whether this message, as sent, would notify anyone."""
    users, roles, everyone = pinged(
        message.content, message.allowed_mentions, reply_to=message.reply_author_id
    )
    return bool(users or roles or everyone)
