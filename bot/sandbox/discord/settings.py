"""The knobs one sandbox instance runs with; shared by its server, gateway and interactions."""

from __future__ import annotations

from dataclasses import dataclass

from .permissions import PRIVILEGED_INTENTS

API_PREFIX = "/api/v10"


@dataclass
class Settings:
    token: str
    application_id: int
    bot_user_id: int
    owner_id: int
    heartbeat_interval: float
    interaction_ack_deadline: float
    interaction_token_ttl: float
    shard_count: int = 1
    latency: float = 0.0
    # Bytes per second the CDN serves attachments at (0: as fast as it can).
    cdn_bytes_per_second: float = 0.0
    # Privileged intents "enabled in the developer portal"; asking for others closes with 4014.
    privileged_intents: int = PRIVILEGED_INTENTS
    base_url: str = ""

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"
