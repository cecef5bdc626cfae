"""A sandbox Discord: a real aiohttp server on 127.0.0.1 serving Discord's REST routes and
gateway, so an unmodified discord.py bot can log in, sync commands and answer interactions.

Point discord.py at it with `discord.http.Route.BASE = sandbox.api_base` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sandbox.gateway_url)`.
"""

from .interactions import InteractionHandle
from .mentions import mentions_pinged
from .ratelimit import Fault
from .sandbox import DiscordSandbox
from .state import Attachment, Guild, Message

__all__ = [
    "Attachment",
    "DiscordSandbox",
    "Fault",
    "Guild",
    "InteractionHandle",
    "Message",
    "mentions_pinged",
]
