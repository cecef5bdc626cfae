"""Which hosts result files may be downloaded from: public addresses, and the gateway's own host.

A result link comes from the upstream's answer, and for chat-format media models from whatever
text the model wrote, so it may name anything: a private service next to the bot, a cloud
metadata endpoint (169.254.169.254), the bot's own machine. Fetching such a link would hand its
contents to a Discord channel. The gateway's own host is trusted whatever its address: a
gateway in the same private network, or on this machine, serves its files there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

from bot.errors import UpstreamFailure

log = logging.getLogger(__name__)


async def public_address(host: str, port: int, own_host: str) -> str | None:
    """The address to connect to for a download from ``host``: None for the gateway's own
    host (trusted, connected to as usual), else one of its addresses after checking that all
    of them may be fetched from; raises UpstreamFailure when any may not.

    The caller connects to this very address rather than resolving the name again: a name
    that answers a public address now and a private one a moment later (DNS rebinding) gets
    no second chance."""
    host = host.lower()
    if host == own_host:
        return None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError:
            raise UpstreamFailure("download failed: the host could not be found") from None
        addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(may_fetch_from(host, a, own_host) for a in addresses):
        log.warning("download refused: %s has a private address", host)
        raise UpstreamFailure("download refused: a private address")
    return addresses[0]


def may_fetch_from(host: str, address: str, own_host: str) -> bool:
    """Whether a download from ``host`` at ``address`` (an IP) is allowed."""
    if host.lower() == own_host:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        # A gateway on this machine (the sandbox, a local proxy) links its files here too.
        return _is_loopback_host(own_host)
    return ip.is_global and not ip.is_multicast


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
