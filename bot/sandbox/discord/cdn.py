"""Signed attachment links, as Discord's CDN hands them out (since early 2024).

Every attachment URL Discord sends carries ``?ex=…&is=…&hm=…&``: when the link expires and when
it was issued (Unix seconds in hex) and a MAC over the path and both. A link without a valid
signature, or past ``ex``, answers ``404 This content is no longer available.``; every payload
Discord builds (a message fetch, a gateway event, an interaction's message) carries freshly
signed links, valid about 24 hours. So a bot must read a link from a fresh payload when it
needs the file, never keep one for later: the sandbox signs the same way so a bot that keeps
one fails here as it would in production.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from .state import Clock

# Discord's links stay valid about a day after they were handed out.
LINK_LIFETIME = 24 * 3600.0
GONE = "This content is no longer available."


class CdnSigner:
    """Signs attachment links with a key of this sandbox; ``valid`` checks one on the CDN."""

    def __init__(self, clock: Clock, lifetime: float = LINK_LIFETIME) -> None:
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self.lifetime = lifetime  # seconds; a test shortens it to see links expire

    def _mac(self, path: str, expires: str, issued: str) -> str:
        message = f"{path}|{expires}|{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, url: str) -> str:
        """``url`` (unsigned, as stored) with a signature valid ``lifetime`` from now."""
        now = self._clock.epoch()
        issued, expires = f"{int(now):x}", f"{int(now + self.lifetime):x}"
        mac = self._mac(unquote(urlsplit(url).path), expires, issued)
        return f"{url}?ex={expires}&is={issued}&hm={mac}&"

    def valid(self, path: str, query: Mapping[str, str]) -> bool:
        """Whether a request for ``path`` (decoded) is signed by this CDN and not expired."""
        expires, issued, mac = query.get("ex", ""), query.get("is", ""), query.get("hm", "")
        try:
            expiry = int(expires, 16)
        except ValueError:
            return False
        good = hmac.compare_digest(mac, self._mac(path, expires, issued))
        return good and self._clock.epoch() < expiry
