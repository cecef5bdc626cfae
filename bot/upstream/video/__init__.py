"""Video generation through the gateway (upstream-api.md §4): one small adapter per API family.

Every adapter has ``name``, ``submit(VideoRequest) -> task id`` and ``fetch(task id) ->
VideoTask | None``; which models each one serves is configuration (``[video]``), not code.
"""

from bot.upstream.client import UpstreamClient
from bot.upstream.video.common import VideoAdapter, VideoRequest, VideoStatus, VideoTask
from bot.upstream.video.kling import KlingClient
from bot.upstream.video.luma import LumaClient
from bot.upstream.video.mj_video import MidjourneyVideoClient
from bot.upstream.video.runway import RunwayClient
from bot.upstream.video.sora import SoraClient
from bot.upstream.video.unified import UnifiedVideoClient


def video_adapters(client: UpstreamClient) -> dict[str, VideoAdapter]:
    """Every adapter by its config name (``video.models[].adapter``)."""
    return {
        "kling": KlingClient(client),
        "luma": LumaClient(client),
        "runway": RunwayClient(client),
        "sora": SoraClient(client),
        "unified": UnifiedVideoClient(client),
        "mj_video": MidjourneyVideoClient(client),
    }


__all__ = [
    "KlingClient",
    "LumaClient",
    "MidjourneyVideoClient",
    "RunwayClient",
    "SoraClient",
    "UnifiedVideoClient",
    "VideoAdapter",
    "VideoRequest",
    "VideoStatus",
    "VideoTask",
    "video_adapters",
]
