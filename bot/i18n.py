"""The message catalog (en-US, zh-CN, zh-TW) and the app_commands Translator built on it."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import discord
from discord import app_commands

from bot.errors import AtelierError

DEFAULT_LOCALE = "en-US"
LOCALES = ("en-US", "zh-CN", "zh-TW")
# Where a key missing in a catalog is looked up next: Traditional readers would rather read
# Simplified Chinese than English. Every catalog ships complete; this only covers a slip.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "en-US": ("en-US",),
    "zh-CN": ("zh-CN", "en-US"),
    "zh-TW": ("zh-TW", "zh-CN", "en-US"),
}
# Discord's Chinese locales are zh-CN and zh-TW; other Traditional regions read zh-TW too.
TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")

# Failures of discord.py's own checks map onto catalog keys like our domain errors do.
CHECK_FAILURE_KEYS: dict[type[Exception], str] = {
    app_commands.NoPrivateMessage: "error.guild_only",
    app_commands.MissingPermissions: "error.missing_permissions",
}


def _flatten(prefix: str, node: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(path, value, out)
        else:
            out[path] = str(value)


def normalize_locale(locale: discord.Locale | str | None) -> str:
    """Map any Discord locale onto a catalog we have: zh-TW reads Traditional, zh-CN Simplified."""
    value = (locale.value if isinstance(locale, discord.Locale) else (locale or "")).lower()
    if value.startswith(TRADITIONAL):
        return "zh-TW"
    return "zh-CN" if value.startswith("zh") else DEFAULT_LOCALE


class Catalog:
    """Flat dotted keys per locale; a missing key falls back along ``FALLBACKS``."""

    def __init__(self, messages: dict[str, dict[str, str]]) -> None:
        self.messages = messages

    @classmethod
    def load(cls) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        folder = resources.files("bot") / "locales"
        for locale in LOCALES:
            flat: dict[str, str] = {}
            _flatten("", tomllib.loads((folder / f"{locale}.toml").read_text("utf-8")), flat)
            messages[locale] = flat
        return cls(messages)

    def t(self, locale: discord.Locale | str | None, key: str, **params: Any) -> str:
        """The message for ``key`` in the reader's language, placeholders filled."""
        text = self.get(locale, key)
        if text is None:
            raise KeyError(key)
        return text.format(**params) if params else text

    def get(self, locale: discord.Locale | str | None, key: str) -> str | None:
        """The unformatted text of ``key`` for this reader, or None when no catalog has it."""
        for code in FALLBACKS[normalize_locale(locale)]:
            text = self.messages[code].get(key)
            if text:
                return text
        return None

    def error(self, locale: discord.Locale | str | None, error: BaseException) -> str:
        """The text a member sees for ``error``: domain errors by their key, else an apology."""
        if isinstance(error, AtelierError):
            return self.t(locale, error.key, **error.params)
        for kind, key in CHECK_FAILURE_KEYS.items():
            if isinstance(error, kind):
                return self.t(locale, key)
        return self.t(locale, "error.unexpected")


def cmd(text: str, key: str) -> app_commands.locale_str:
    """A command name or description with its catalog key (``commands.<key>``)."""
    return app_commands.locale_str(text, key=key)


class CatalogTranslator(app_commands.Translator):
    """Gives Discord the zh-CN and zh-TW names and descriptions for the command picker."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = string.extras.get("key")
        if not key or normalize_locale(locale) == DEFAULT_LOCALE:
            return None
        return self.catalog.get(normalize_locale(locale), f"commands.{key}")
