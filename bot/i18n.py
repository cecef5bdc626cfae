"""The message catalog (en-US, zh-CN) and the app_commands Translator built on it."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import discord
from discord import app_commands

from bot.errors import AtelierError

DEFAULT_LOCALE = "en-US"
LOCALES = ("en-US", "zh-CN")

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
    """Map any Discord locale onto a catalog we have; every Chinese variant reads zh-CN."""
    value = locale.value if isinstance(locale, discord.Locale) else (locale or "")
    return "zh-CN" if value.lower().startswith("zh") else DEFAULT_LOCALE


class Catalog:
    """Flat dotted keys per locale; a key missing in zh-CN falls back to en-US."""

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
        code = normalize_locale(locale)
        text = self.messages[code].get(key) or self.messages[DEFAULT_LOCALE][key]
        return text.format(**params) if params else text

    def get(self, locale: str, key: str) -> str | None:
        return self.messages.get(locale, {}).get(key)

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
    """Gives Discord the zh-CN names and descriptions so the command picker reads Chinese."""

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
