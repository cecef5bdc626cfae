"""SQLite's checkpoints, off the writer's path.

In WAL mode a commit appends pages to the ``-wal`` file; a checkpoint copies them into the
database and syncs both files to disk. Run by the committing connection (SQLite's
``wal_autocheckpoint``), that sync lands on whichever commit crosses the threshold: a hold and its
settle wrote sixteen pages, and one commit in several hundred waited for megabytes to reach the
disk, which cost every movement 100-200 µs on average. Here a thread with its own connection runs
a PASSIVE checkpoint (it never blocks the writer or a reader) every ``EVERY_UNITS`` units of
work, and no more often than every ``MIN_INTERVAL`` seconds (at thousands of units a second a
checkpoint per hundred cost more CPU than it saved), while the writer goes on committing.

A passive checkpoint cannot restart the log while commits keep coming, so the writer's own
``wal_autocheckpoint`` stays as the bound on the file's size: when it fires, nearly every page is
already in the database and on disk, and it has little left to copy or sync.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# About 800 pages at a hold's or a settle's eight: well inside the writer's 10,000-page bound.
EVERY_UNITS = 100
# At 3,000 movements a second, some 5,000 pages between checkpoints: still inside that bound.
MIN_INTERVAL = 0.1


class Checkpointer:
    """A thread that checkpoints ``engine``'s database when ``wrote`` has counted enough."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._units = 0
        self.done = 0  # checkpoints run: what the tests look at
        self._failed = False
        self._thread = threading.Thread(target=self._serve, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, units: int) -> None:
        """Called by the writer's thread after each commit, with the units it held."""
        self._units += units
        if self._units >= EVERY_UNITS:
            self._units = 0
            self._due.set()

    def _serve(self) -> None:
        conn: Any = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping.is_set():
                    return
                if conn is None:
                    # The engine's own connection arguments (file, URI, timeout), not its pool:
                    # the writer holds the pool's one connection.
                    cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
                    conn = sqlite3.connect(*cargs, **{**cparams, "check_same_thread": True})
                self._checkpoint(conn)
                if self._stopping.wait(MIN_INTERVAL):
                    return
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.done += 1
        except sqlite3.Error as exc:
            # The writer's own checkpoints still run; say so once, not on every attempt.
            if not self._failed:
                self._failed = True
                log.warning("background SQLite checkpoint failed (%s); the writer's own go on", exc)

    def stop(self) -> None:
        self._stopping.set()
        self._due.set()
        self._thread.join()
