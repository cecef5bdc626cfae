"""Logging: plain or JSON lines, with the guild, member, command and job of the work at hand.

The ids travel in context variables set where work begins (an interaction, a job delivery), so
every log line inside carries them without being passed around. Secrets are masked as a last
line of defence: nothing should log them, and if something does, they still do not leak.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

CONTEXT_FIELDS = ("guild", "member", "command", "job")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "atelier_log_context", default=None
)


def bind(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Attach ids to every log line of the current task (and tasks it starts)."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


class ContextFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        wanted = {s for s in secrets if s and len(s) >= 6}
        # The gateway stores API keys without "sk-" and may echo them that way.
        wanted |= {b for s in wanted if len(b := s.removeprefix("sk-")) >= 8}
        self.secrets = sorted(wanted, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if self.secrets:
            message = record.getMessage()
            masked = self._mask(message)
            if masked != message:
                record.msg, record.args = masked, None
            # A traceback quotes exception messages, which may carry what the message did not.
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._mask(record.exc_text)
        return True

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            # exc_text: the traceback as ContextFilter masked it.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_FIELDS
            if getattr(record, key, None) is not None
        )
        return f"{text} [{ids}]" if ids else text


class BriefLibraryErrors(logging.Filter):
    """Above DEBUG, a library's exception log (discord.py's "Failed to connect … Retrying",
    its reconnect notices) keeps one line naming the exception instead of a traceback: those
    are ordinary network failures, and the bot's own messages say what to do about them."""

    PREFIXES = ("discord.", "aiohttp.")

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.exc_info
            and record.name.startswith(self.PREFIXES)
            and not logging.getLogger().isEnabledFor(logging.DEBUG)
        ):
            exc = record.exc_info[1]
            if exc is not None:
                record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
                record.args = None
            record.exc_info, record.exc_text = None, None
        return True


def build_handler(
    fmt: str = "plain", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """The handler ``atelier run`` logs through (to stderr unless ``stream`` is given)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(BriefLibraryErrors())
    handler.addFilter(ContextFilter(secrets))
    return handler


def setup_logging(level: str, fmt: str = "plain", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    root.handlers[:] = [build_handler(fmt, secrets)]
    root.setLevel(level)
