"""The gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME, sharded dispatch.

Each IDENTIFY opens a session. Dispatches are numbered per session and kept in a replay buffer,
so a client that RESUMEs after a dropped connection receives what it missed, as on Discord.
Every connection has one writer task draining an ordered outbox: frames reach the wire in the
order they were dispatched, whatever task dispatched them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import Payloads
from .permissions import INTENT_GUILDS, INTENT_MESSAGE_CONTENT, PRIVILEGED_INTENTS
from .settings import Settings
from .state import Store

HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS = 1, 2, 6, 8
HELLO, HEARTBEAT_ACK, INVALID_SESSION = 10, 11, 9
# Client close codes that end a session for good (Discord invalidates it).
SESSION_ENDING_CLOSES = (1000, 1001)
REPLAY_BUFFER = 2000
_CLOSE = "__close__"


@dataclass(eq=False)
class Session:
    id: str
    shard: tuple[int, int]
    intents: int
    seq: int = 0
    alive: bool = True
    conn: Connection | None = None
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))

    def owns(self, guild_id: int | None) -> bool:
        shard_id, count = self.shard
        return (0 if guild_id is None else (guild_id >> 22) % count) == shard_id


@dataclass(eq=False)
class Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    session: Session | None = None
    dropped: bool = False
    writer: asyncio.Task[None] | None = None


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


def _strip_content(data: dict[str, Any]) -> dict[str, Any]:
    """What a client without the message content intent receives."""
    return {**data, "content": "", "embeds": [], "attachments": [], "components": []}


class Gateway:
    def __init__(
        self, store: Store, payloads: Payloads, settings: Settings, log: list[dict[str, Any]]
    ) -> None:
        self.store = store
        self.payloads = payloads
        self.settings = settings
        self.log = log
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)

    # -- connection lifecycle --------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(next(self._ids), ws, request)
        self.connections.add(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        self._send(
            conn,
            {
                "op": HELLO,
                "d": {"heartbeat_interval": int(self.settings.heartbeat_interval * 1000)},
            },
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive(conn, msg.data)
                else:
                    self._send(conn, {_CLOSE: 4002})
        finally:
            self._detach(conn, ws.close_code)
            self.connections.discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
        return ws

    async def _writer(self, conn: Connection) -> None:
        while True:
            frame = await conn.outbox.get()
            if _CLOSE in frame:
                self._log("out", conn, {"op": None, "close": frame[_CLOSE]})
                await conn.ws.close(code=frame[_CLOSE])
                return
            try:
                await conn.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return  # the socket is gone; a RESUME replays what was not delivered
            self._log("out", conn, frame)

    def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        conn.outbox.put_nowait(frame)

    def _detach(self, conn: Connection, close_code: int | None) -> None:
        session = conn.session
        if session is None or session.conn is not conn:
            return
        session.conn = None
        if close_code in SESSION_ENDING_CLOSES and not conn.dropped:
            session.alive = False

    def _log(self, direction: str, conn: Connection, frame: dict[str, Any]) -> None:
        session = conn.session
        self.log.append(
            {
                "t": self.store.clock.now(),
                "dir": direction,
                "conn": conn.id,
                "shard": list(session.shard) if session else None,
                "op": frame.get("op"),
                "event": frame.get("t"),
                "s": frame.get("s"),
                "d": frame.get("d"),
                **({"close": frame["close"]} if "close" in frame else {}),
            }
        )

    # -- inbound frames --------------------------------------------------------------------
    def _receive(self, conn: Connection, text: str) -> None:
        try:
            frame = json.loads(text)
            op = frame["op"]
        except (ValueError, KeyError, TypeError):
            self._send(conn, {_CLOSE: 4002})
            return
        self._log("in", conn, frame)
        data = frame.get("d")
        if op == HEARTBEAT:
            self._send(conn, {"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            self._identify(conn, data or {})
        elif op == RESUME:
            self._resume(conn, data or {})
        elif op == REQUEST_MEMBERS:
            self._members_chunk(conn, data or {})
        elif op not in (3, 4):  # presence and voice state updates are accepted and ignored
            self._send(conn, {_CLOSE: 4001})

    def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            self._send(conn, {_CLOSE: 4005})
            return
        if data.get("token") != self.settings.token:
            self._send(conn, {_CLOSE: 4004})
            return
        shard = data.get("shard") or [0, 1]
        valid = isinstance(shard, list | tuple) and len(shard) == 2
        shard_id, count = (int(shard[0]), int(shard[1])) if valid else (0, 0)
        if not 0 <= shard_id < count:
            self._send(conn, {_CLOSE: 4010})
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.settings.privileged_intents:
            self._send(conn, {_CLOSE: 4014})
            return
        session = Session(secrets.token_hex(16), (shard_id, count), intents, conn=conn)
        self.sessions[session.id] = session
        conn.session = session
        guilds = [g for g in self.store.guilds.values() if session.owns(g.id)]
        ready = self.payloads.ready(
            session.id, session.shard, [g.id for g in guilds], self.settings.gateway_url
        )
        self._dispatch_to(session, "READY", ready)
        if intents & INTENT_GUILDS:
            for guild in guilds:
                self._dispatch_to(session, "GUILD_CREATE", self.payloads.guild_create(guild))

    def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.alive or data.get("token") != self.settings.token:
            self._send(conn, {"op": INVALID_SESSION, "d": False})
            return
        old = session.conn
        if old is not None and old is not conn:
            old.dropped = True
            self._send(old, {_CLOSE: 4000})
        session.conn, conn.session = conn, session
        seq = int(data.get("seq") or 0)
        for frame in session.history:
            if frame["s"] > seq:
                self._send(conn, frame)
        self._dispatch_to(session, "RESUMED", {})

    def _members_chunk(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is None:
            return
        guild = self.store.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        ids = [u for u in guild.member_ids if not wanted or u in wanted]
        chunk = {
            "guild_id": str(guild.id),
            "members": [self.payloads.member(guild.id, u) for u in ids],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted - set(ids)],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self._dispatch_to(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- outbound dispatch -----------------------------------------------------------------
    def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.history.append(frame)
        if session.conn is not None:
            self._send(session.conn, frame)

    def dispatch(
        self,
        guild_id: int | None,
        event: str,
        data: dict[str, Any],
        *,
        intent: int = 0,
        content_exempt: bool | None = None,
    ) -> int:
        """Send an event to every live session whose shard owns the guild (DMs: shard 0).

        Sessions without `intent` are skipped; with `content_exempt=False`, sessions without
        the message content intent get the message with its content blanked. Returns how many
        sessions it was queued for (a disconnected but resumable session counts).
        """
        count = 0
        for session in self.sessions.values():
            if not session.alive or not session.owns(guild_id):
                continue
            if intent and not session.intents & intent:
                continue
            payload = data
            if content_exempt is False and not session.intents & INTENT_MESSAGE_CONTENT:
                payload = _strip_content(data)
            self._dispatch_to(session, event, payload)
            count += 1
        return count

    def drop(self, shard: int | None = None, code: int | None = None) -> int:
        """Cut connections; `code=None` aborts the TCP connection (the client sees 1006)."""
        dropped = 0
        for conn in list(self.connections):
            if shard is not None and (conn.session is None or conn.session.shard[0] != shard):
                continue
            conn.dropped = True
            dropped += 1
            transport = conn.request.transport
            if code is None and transport is not None:
                transport.abort()
            else:
                self._send(conn, {_CLOSE: code or 1001})
        return dropped

    def invalidate(self, shard: int | None = None) -> int:
        """Send INVALID_SESSION (``d: false``) and end the sessions: RESUME is refused from now
        on, so clients IDENTIFY again. Returns how many connections were told."""
        told = 0
        for conn in list(self.connections):
            session = conn.session
            if session is None or (shard is not None and session.shard[0] != shard):
                continue
            session.alive = False
            self._send(conn, {"op": INVALID_SESSION, "d": False})
            told += 1
        return told

    async def close(self) -> None:
        for conn in list(self.connections):
            conn.dropped = True
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
            if conn.writer is not None:
                conn.writer.cancel()
        for session in self.sessions.values():
            session.alive = False
