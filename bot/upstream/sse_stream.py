"""An open Server-Sent Events answer of the gateway, read through ``UpstreamClient.stream``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import aiohttp

from bot.errors import UpstreamFailure
from bot.upstream.errors import decode_json
from bot.upstream.sse import SSEEvent, SSEParser, SSEProtocolError

if TYPE_CHECKING:
    from bot.upstream.client import Timeout, UpstreamClient

log = logging.getLogger(__name__)

# An error body is read only this far: it is for a short message, not a download.
MAX_ERROR_BODY = 64 * 1024


class SSEStream:
    """An open event stream; releases its connection when the ``async with`` block ends."""

    def __init__(
        self,
        client: UpstreamClient,
        path: str,
        body: Any,
        headers: dict[str, str] | None,
        timeout: Timeout,
    ) -> None:
        self._client = client
        self._path = path
        self._body = body
        self._headers = {"Accept": "text/event-stream", **(headers or {})}
        self._timeout = timeout
        self._resp: aiohttp.ClientResponse | None = None

    def __repr__(self) -> str:
        return f"SSEStream(path={self._path!r})"

    async def __aenter__(self) -> Self:
        self._resp = await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def __aiter__(self) -> AsyncIterator[SSEEvent]:
        return self._events()

    async def _open(self) -> aiohttp.ClientResponse:
        client = self._client
        try:
            resp = await client._session.post(
                client.url_for(self._path),
                json=self._body,
                headers=client._headers(self._headers),
                timeout=client._timeout_for(self._timeout),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise client.transport_error("POST", self._path, exc) from None
        try:
            if resp.status >= 400:
                raise await client._error_from("POST", self._path, resp)
            if resp.content_type == "application/json":
                # Some failures arrive as a JSON body with a 2xx status instead of a stream.
                obj = decode_json(await read_limited(resp, MAX_ERROR_BODY))
                client.raise_for_error_body(obj, resp.status)
                raise UpstreamFailure("the upstream did not stream its answer", status=resp.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.release()
            raise client.transport_error("POST", self._path, exc) from None
        except BaseException:
            resp.release()
            raise
        log.debug("upstream POST %s -> %s (stream open)", self._path, resp.status)
        return resp

    async def _events(self) -> AsyncIterator[SSEEvent]:
        owned = self._resp is None
        if self._resp is None:
            self._resp = await self._open()
        resp = self._resp
        parser = SSEParser()
        try:
            while True:
                chunk = await self._read(resp)
                events = self._parse(parser.feed, chunk) if chunk else self._parse(parser.close)
                for event in events:
                    yield event
                    if event.done:
                        return  # anything after [DONE] is noise; don't wait for EOF
                if not chunk:
                    return
        finally:
            if owned:
                self._release()

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await resp.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._client.transport_error("POST", self._path, exc) from None

    def _parse(self, step: Callable[..., list[SSEEvent]], *args: bytes) -> list[SSEEvent]:
        try:
            return step(*args)
        except SSEProtocolError as exc:
            log.warning("upstream POST %s: bad event stream: %s", self._path, exc)
            raise UpstreamFailure("the upstream sent a malformed stream") from None

    def _release(self) -> None:
        if self._resp is not None:
            self._resp.release()
            self._resp = None


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    # StreamReader.read(n) returns whatever has arrived, so gather until EOF or the limit.
    body = bytearray()
    while len(body) < limit:
        chunk = await resp.content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)
