"""The one HTTP client every upstream API family goes through.

It owns the things that must be the same for every call: the Bearer key (and keeping it out of
logs and exceptions), timeouts, and turning any failure, HTTP or network, into a typed
``UpstreamError``. Family clients (chat, billing, later Midjourney/Suno/video) wrap it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
import re
import time
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp
import yarl

from bot.errors import (
    MediaTooLarge,
    RouteNotServed,
    UpstreamAuthError,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from bot.upstream.addresses import public_address
from bot.upstream.errors import build_error, decode_json, raise_for_error_body
from bot.upstream.sse_stream import MAX_ERROR_BODY, SSEStream, read_limited

log = logging.getLogger(__name__)

# new-api echoes its request id in this header too; used when the message has no tail.
REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
# Downloads: what may be fetched, and how many same-host redirects are followed.
FETCHABLE_SCHEMES = ("http", "https")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
_LOG_BODY_CHARS = 2000
# Anything that looks like an OpenAI-style secret key, in case an upstream echoes another one.
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_\-]{16,}")
REDACTED = "sk-***"
# Midjourney routes, with or without a speed prefix (/mj-fast/mj/…): a proxy reached directly
# reads its key from this header instead of Authorization (upstream-api.md §7).
_MJ_PATH = re.compile(r"^(?:/[^/]+)?/mj/")
MJ_SECRET_HEADER = "mj-api-secret"
# Links the gateway builds from its ServerAddress site setting (forwarded Midjourney images,
# Sora-style content): that setting may name another host or scheme than the one the bot was
# given (by default http://localhost:3000), so they are fetched on the configured base URL.
_GATEWAY_LINK = re.compile(r"^(?:/[^/]+)?/mj/image/[^/]+$|^/v1/videos/[^/]+/content$")

Timeout = float | aiohttp.ClientTimeout | None


class Redactor:
    """Removes the API key from text before it reaches a log line or an exception."""

    def __init__(self, api_key: str) -> None:
        secrets = {api_key}
        # new-api stores keys without the "sk-" prefix and may quote them that way.
        bare = api_key.removeprefix("sk-")
        if len(bare) >= 8:
            secrets.add(bare)
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _KEY_LIKE.sub(REDACTED, text)

    def __repr__(self) -> str:
        return "Redactor(***)"


class UpstreamClient:
    """Authenticated JSON and SSE calls against the gateway; build once, share everywhere."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        total_timeout: float = 300.0,
        mj_auth: str = "bearer",
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        # Result links on the gateway's own host are fine even on a private address (a gateway
        # in the same network, the sandbox on 127.0.0.1); other private hosts are not.
        self._own_host = (urlsplit(self.base_url).hostname or "").lower()
        self._authorization = f"Bearer {api_key}"
        self._api_key = api_key
        # "bearer", "mj-api-secret", or "auto": Bearer until a /mj route refuses it.
        self.mj_auth = mj_auth
        self.redact = Redactor(api_key)
        self.read_timeout = read_timeout
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )

    def __repr__(self) -> str:
        return f"UpstreamClient(base_url={self.base_url!r})"

    def url_for(self, path: str) -> str:
        """Absolute URL for a gateway path; absolute URLs must point at the gateway itself."""
        if "://" in path:
            if _origin(path) != self._origin:
                raise ValueError("refusing to send the API key to another host")
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def gateway_link(self, url: str) -> str:
        """``url`` itself, or for a link the gateway built from its ServerAddress, the same path
        and query on the configured base URL (where the key may go, and nowhere else)."""
        parts = urlsplit(url)
        if not parts.scheme or _origin(url) == self._origin or not _GATEWAY_LINK.match(parts.path):
            return url
        return f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        # aiohttp's per-request ClientTimeout (connect/read/total), which asyncio.timeout can't do.
        timeout: Timeout = None,  # noqa: ASYNC109
    ) -> Any:
        """Send a request and return the decoded JSON body (``None`` for an empty body).

        HTTP errors raise the typed ``UpstreamError``. A 2xx body is returned as is, even when
        it carries an ``error`` object; routes that do that call ``raise_for_error_body``.
        """
        url = self.url_for(path)
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                json=json,
                data=data,
                params=params,
                headers=self._headers(headers, path),
                timeout=self._timeout_for(timeout),
            ) as resp:
                if resp.status >= 400:
                    raise await self._error_from(method, path, resp)
                raw = await resp.read()
                status = resp.status
                html = "html" in resp.content_type
        except UpstreamAuthError:
            if self.mj_auth != "auto" or not _MJ_PATH.match(urlsplit(url).path):
                raise
            # A midjourney-proxy reached directly never matches "Bearer …": ask it its way.
            log.info("upstream %s %s refused Bearer: using %s", method, path, MJ_SECRET_HEADER)
            self.mj_auth = MJ_SECRET_HEADER
            return await self.request_json(
                method, path, json=json, data=data, params=params, headers=headers,
                timeout=timeout,
            )  # fmt: skip
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error(method, path, exc) from None
        log.debug("upstream %s %s -> %s in %.0f ms", method, path, status, _ms_since(started))
        if not raw.strip():
            return None
        try:
            return jsonlib.loads(raw)
        except ValueError:
            if html:
                log.warning("upstream %s %s: the gateway has no such route (HTML)", method, path)
                raise RouteNotServed("the gateway has no such route", status=status) from None
            log.warning(
                "upstream %s %s: non-JSON body: %s",
                method,
                path,
                self.redact(raw[:_LOG_BODY_CHARS].decode("utf-8", "replace")),
            )
            raise UpstreamFailure("the upstream sent an unreadable answer", status=status) from None

    async def request_bytes(
        self,
        path: str,
        *,
        json: Any,
        max_bytes: int,
        timeout: Timeout = None,  # noqa: ASYNC109
    ) -> tuple[bytes, str]:
        """POST ``json`` to a route that answers a file (speech): ``(body, content type)``.

        HTTP errors, an error object under 200, and the console page (no such route) raise
        the typed ``UpstreamError``, as for ``request_json``."""
        try:
            async with self._session.post(
                self.url_for(path), json=json, headers=self._headers(None, path),
                timeout=self._timeout_for(timeout),
            ) as resp:  # fmt: skip
                if resp.status >= 400:
                    raise await self._error_from("POST", path, resp)
                if (resp.content_length or 0) > max_bytes:
                    raise MediaTooLarge("the file is too large", status=resp.status)
                body = await read_limited(resp, max_bytes + 1)
                kind = resp.content_type
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error("POST", path, exc) from None
        if len(body) > max_bytes:
            raise MediaTooLarge("the file is too large", status=200)
        if "html" in kind:
            raise RouteNotServed("the gateway has no such route", status=200)
        if "json" in kind:
            self.raise_for_error_body(decode_json(body))
            raise UpstreamFailure("the upstream answered JSON instead of a file", status=200)
        return body, kind

    def stream(
        self,
        path: str,
        json: Any,
        *,
        headers: dict[str, str] | None = None,
        timeout: Timeout = None,
    ) -> SSEStream:
        """POST ``json`` and read the answer as Server-Sent Events.

        Use ``async with client.stream(...) as events: async for event in events``; a bare
        ``async for`` also works. An HTTP error raises before any event is produced.
        """
        return SSEStream(self, path, json, headers, timeout)

    async def download(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: Timeout = None,  # noqa: ASYNC109 - an aiohttp ClientTimeout, as above
    ) -> bytes:
        """Fetch a result file, refusing anything larger than ``max_bytes``.

        The key is sent only to the gateway's own origin (its proxy URLs need it), never to a
        CDN. Errors from other hosts are plain failures: their 403 is an expired link, not us.
        Only http(s) is fetched, and redirects are followed by hand, at most ``MAX_REDIRECTS``,
        and only on the same host: a result link must not bounce the bot to another machine (a
        private address, a cloud metadata service) or to another scheme. The link itself may
        name no private, loopback or link-local address either (links in a chat-format model's
        answer are whatever the model wrote), unless it is on the gateway's own host. A float
        ``timeout`` bounds the whole download, redirects included.
        """
        given = urlsplit(url)
        if not given.scheme and given.netloc:  # "//host/…" names another host too
            raise UpstreamFailure("download refused: only http(s) links are fetched")
        # A bare path is on the gateway, and so is a link built from its ServerAddress.
        current = self.gateway_link(url) if given.scheme else self.url_for(url)
        first = urlsplit(current)
        if first.scheme.lower() not in FETCHABLE_SCHEMES or not first.hostname:
            raise UpstreamFailure("download refused: only http(s) links are fetched")
        try:
            async with contextlib.AsyncExitStack() as stack:
                if isinstance(timeout, int | float):
                    await stack.enter_async_context(asyncio.timeout(timeout))
                # Redirects stay on this host (see _checked_redirect), so on this address too.
                address = await public_address(first.hostname, _port(first), self._own_host)
                for _ in range(MAX_REDIRECTS + 1):
                    body, location = await self._fetch(current, max_bytes, timeout, address)
                    if location is None:
                        return body
                    current = _checked_redirect(current, location, first)
                raise UpstreamFailure("download refused: too many redirects")
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error("GET", urlsplit(current).path, exc) from None

    async def _fetch(
        self, url: str, max_bytes: int, client_timeout: Timeout, address: str | None = None
    ) -> tuple[bytes, str | None]:
        """One GET without following redirects: ``(body, None)`` or ``(b"", Location)``.

        With ``address``, connects to that address (the one checked) under the URL's name."""
        own = _origin(url) == self._origin
        headers = self._headers(None, url) if own else {}
        target: str | yarl.URL = url
        pinned: dict[str, Any] = {}
        if address is not None:
            named = yarl.URL(url)
            target = named.with_host(address)
            headers["Host"] = named.host_port_subcomponent or ""
            if named.scheme == "https":
                pinned["server_hostname"] = named.host  # TLS checks the name, not the address
        async with self._session.get(
            target,
            headers=headers,
            timeout=self._timeout_for(client_timeout),
            allow_redirects=False,
            **pinned,
        ) as resp:
            if resp.status in REDIRECT_STATUSES:
                location = resp.headers.get("Location", "")
                if not location:
                    raise UpstreamFailure("download refused: a redirect without a location")
                return b"", location
            if resp.status >= 400:
                if own:
                    raise await self._error_from("GET", urlsplit(url).path, resp)
                raise UpstreamFailure(f"download failed: HTTP {resp.status}", status=resp.status)
            if (resp.content_length or 0) > max_bytes:
                raise MediaTooLarge("the file is too large", status=resp.status)
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise MediaTooLarge("the file is too large", status=resp.status)
            return bytes(body), None

    def raise_for_error_body(self, obj: Any, status: int = 200) -> None:
        """Raise the typed error if a decoded body reports a failure (even under HTTP 200)."""
        try:
            raise_for_error_body(obj, status, redact=self.redact)
        except UpstreamError as exc:
            log.warning("upstream error in %s body: %s", status, _describe(exc))
            raise

    def transport_error(self, method: str, path: str, exc: BaseException) -> UpstreamError:
        """Map a network-level failure to a typed error whose text is safe to show."""
        if isinstance(exc, TimeoutError):
            log.warning("upstream %s %s timed out", method, path)
            return UpstreamTimeout("the upstream took too long to answer")
        if isinstance(exc, aiohttp.ClientConnectorError):
            detail = "could not connect to the upstream"
        elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
            detail = "the upstream closed the connection"
        elif isinstance(exc, aiohttp.ClientPayloadError):
            detail = "the upstream answer was cut off"
        else:
            detail = "the upstream connection failed"
        log.warning(
            "upstream %s %s: %s (%s: %s)",
            method,
            path,
            detail,
            type(exc).__name__,
            self.redact(str(exc)),
        )
        return UpstreamFailure(detail)

    async def _error_from(
        self, method: str, path: str, resp: aiohttp.ClientResponse
    ) -> UpstreamError:
        raw = await read_limited(resp, MAX_ERROR_BODY)
        text = raw.decode("utf-8", "replace")
        error = build_error(
            resp.status,
            decode_json(raw),
            raw_text=text,
            redact=self.redact,
            header_request_id=resp.headers.get(REQUEST_ID_HEADER),
        )
        log.warning("upstream %s %s failed: %s", method, path, _describe(error))
        body = self.redact(text[:_LOG_BODY_CHARS])
        log.debug("upstream %s %s error body: %s", method, path, body)
        return error

    async def probe(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> tuple[int, str, bytes]:
        """``(status, content type, first bytes of the body)`` of one call, whatever it answers:
        capability discovery reads an HTML page or a 404 as an answer, not as a failure.
        Network failures still raise the typed ``UpstreamError``."""
        try:
            async with self._session.request(
                method,
                self.url_for(path),
                json=json,
                headers=self._headers(None, path),
                timeout=self._timeout_for(timeout),
                allow_redirects=False,
            ) as resp:
                answer = resp.status, resp.content_type, await read_limited(resp, MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error(method, path, exc) from None
        if answer[0] == 401 and self.mj_auth == "auto" and _MJ_PATH.match(urlsplit(path).path):
            # A midjourney-proxy reached directly never matches "Bearer …": ask it its way.
            self.mj_auth = MJ_SECRET_HEADER
            return await self.probe(method, path, json=json, timeout=timeout)
        return answer

    def _headers(self, extra: dict[str, str] | None, path: str = "") -> dict[str, str]:
        if self.mj_auth == MJ_SECRET_HEADER and _MJ_PATH.match(urlsplit(path).path):
            headers = {MJ_SECRET_HEADER: self._api_key}
        else:
            headers = {"Authorization": self._authorization}
        if extra:
            headers.update(extra)
        return headers

    def _timeout_for(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        if timeout is None:
            return self._timeout
        if isinstance(timeout, aiohttp.ClientTimeout):
            return timeout
        return aiohttp.ClientTimeout(
            total=timeout, sock_connect=self._timeout.sock_connect, sock_read=self.read_timeout
        )


def _describe(error: UpstreamError) -> str:
    return (
        f"{type(error).__name__} status={error.status} code={error.code} "
        f"request_id={error.request_id}: {error.detail}"
    )


def _checked_redirect(current: str, location: str, first: SplitResult) -> str:
    """The redirect's target if it may be followed: http(s), and the first URL's host and port
    (or an upgrade to https on the default port); raises UpstreamFailure otherwise."""
    target = urljoin(current, location)
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in FETCHABLE_SCHEMES:
        raise UpstreamFailure(f"download refused: a redirect to a {scheme or 'relative'} URL")
    same_host = (parts.hostname or "").lower() == (first.hostname or "").lower()
    upgrade = scheme == "https" and parts.port in (None, 443)
    if not same_host or (_port(parts) != _port(first) and not upgrade):
        raise UpstreamFailure("download refused: a redirect to another host")
    return target


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
