"""Where a SQLite database URL points, made absolute so every part of the bot agrees on it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

IN_MEMORY = ("", ":memory:")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for other databases and in-memory ones."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database or ""
    if database in IN_MEMORY or database.startswith("file:"):
        return None
    return Path(database)


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``base_dir``."""
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    parsed = make_url(url)
    absolute = parsed.set(database=str((base_dir / path).resolve()))
    return absolute.render_as_string(hide_password=False)
