"""A local new-api-style gateway for tests and the demo; see ``server.UpstreamSandbox``."""

from bot.sandbox.upstream.billing import BillingState
from bot.sandbox.upstream.chat import ChatState, StreamLog
from bot.sandbox.upstream.faults import PRESETS
from bot.sandbox.upstream.server import Injection, SandboxRecord, UpstreamSandbox

__all__ = [
    "PRESETS",
    "BillingState",
    "ChatState",
    "Injection",
    "SandboxRecord",
    "StreamLog",
    "UpstreamSandbox",
]
