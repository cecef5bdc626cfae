"""Why the database cannot be opened, in words that name ``database.url`` and the fix.

SQLite says "unable to open database file" whatever the cause and PostgreSQL's drivers raise
a dozen types; an operator needs one line: which setting, what is wrong, what to do.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.errors import BadSetting, NotInstalled, OperatorError, ServiceUnreachable
from bot.sqlite_paths import sqlite_file

POSTGRES_EXTRA = 'pip install "atelier[postgres]" (or pip install ".[postgres]" from a checkout)'


def shown_url(url: str) -> str:
    """The URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def missing_driver(url: str, exc: ModuleNotFoundError) -> OperatorError | None:
    if exc.name == "asyncpg":
        return NotInstalled(
            f"database.url is a PostgreSQL URL but its driver is not installed: {POSTGRES_EXTRA}"
        )
    return None


def sqlite_folder_problem(url: str) -> OperatorError | None:
    """A SQLite file whose folder is missing or not writable (checked without touching it)."""
    path = sqlite_file(url)
    if path is None:
        return None
    folder = path.parent
    if not folder.is_dir():
        return BadSetting(
            f"database.url: the folder {folder} of the SQLite file does not exist; create it "
            "or point database.url elsewhere"
        )
    if not _writable(path):
        what = f"the SQLite file {path}" if path.exists() else f"the folder {folder}"
        return BadSetting(
            f"database.url: {what} is not writable by this user (uid {os.getuid()}); give "
            "it to this user or point database.url elsewhere"
        )
    return None


def _writable(path: Path) -> bool:
    """Whether this process may write the file (or create it), tried rather than inferred from
    mode bits: root passes ``os.access`` even on a read-only filesystem. Leaves nothing."""
    try:
        if path.exists():
            with path.open("r+b"):
                return True
        with tempfile.TemporaryFile(dir=path.parent):
            return True
    except OSError:
        return False


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wrapped, and what caused it."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def connect_error(url: str, exc: BaseException) -> OperatorError | None:
    """The operator's message for a failure to open the database; None when it is no such."""
    if isinstance(exc, OperatorError):
        return exc
    shown = shown_url(url)
    parsed = make_url(url)
    for cause in _chain(exc):
        name = type(cause).__name__
        if name == "InvalidCatalogNameError":
            return BadSetting(
                f"database.url: the database {parsed.database!r} does not exist on "
                f"{parsed.host}; create it (createdb {parsed.database}) or fix database.url"
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return BadSetting(
                f"database.url: PostgreSQL refused the login of {parsed.username!r} ({cause}); "
                "fix the user or password in database.url"
            )
        if isinstance(cause, socket.gaierror):
            return ServiceUnreachable(
                f"cannot reach the database at {shown}: unknown host {parsed.host!r}; "
                "check database.url"
            )
        if isinstance(cause, ConnectionRefusedError):
            return ServiceUnreachable(
                f"cannot reach the database at {shown}: connection refused; is PostgreSQL "
                "running there? check database.url"
            )
        if isinstance(cause, TimeoutError):
            return ServiceUnreachable(
                f"cannot reach the database at {shown}: no answer; check database.url"
            )
        if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            return ServiceUnreachable(f"cannot reach the database at {shown}: {cause.strerror}")
        if "unable to open database file" in str(cause):
            path = sqlite_file(url) or Path("?")
            return sqlite_folder_problem(url) or BadSetting(
                f"database.url: SQLite cannot open {path}; check the file and its folder"
            )
    # Anything else the driver says while merely connecting (a full server, a file that is
    # not a database) is still the database's answer: pass it on, in its own words.
    drivers = [c for c in _chain(exc) if _is_driver_error(c)]
    if not drivers:
        return None
    driver = drivers[-1]  # the driver's own error, inside SQLAlchemy's wrappers
    said = str(driver).splitlines()[0] if str(driver) else type(driver).__name__
    if url.startswith("sqlite"):
        return BadSetting(f"database.url: SQLite cannot use {sqlite_file(url)}: {said}")
    return ServiceUnreachable(f"the database at {shown} refused the connection: {said}")


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlite3")) or isinstance(exc, DBAPIError)
