"""Result downloads go only where they should: http(s), same-host redirects, public addresses
(or the gateway's own host), size and time caps, and the key only to the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.config import ImageModel
from bot.errors import MediaTooLarge, UpstreamFailure, UpstreamTimeout
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.mj_tasks import task_json
from bot.sandbox.upstream.png import sandbox_png
from bot.upstream.client import UpstreamClient
from tests.helpers import run_slash
from tests.reliability.amounts import (
    action_charge,
    image_model_charge,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import finished_card, settled, world

API_KEY = "sk-downloadSuiteSecretKey0123456789abcdef"
PNG = sandbox_png("cdn", False, None)


class CDN:
    """Another host serving result files, with redirects of every kind."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.hosts: list[str] = []  # the Host header of each request
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append((name, request.headers.get("Authorization")))
        self.hosts.append(request.host)
        here = f"http://127.0.0.1:{self.port}"
        redirects = {
            "relative": "/img.png",
            "absolute": f"{here}/img.png",
            "other-host": f"http://localhost:{self.port}/img.png",
            "other-port": "http://127.0.0.1:9/img.png",
            "file": "file:///etc/passwd",
            "gopher": "gopher://127.0.0.1:70/x",
            "loop": "/loop",
            "empty": "",
        }
        if name in redirects:
            return web.Response(status=302, headers={"Location": redirects[name]})
        if name == "img.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "slow":
            await asyncio.sleep(3)
            return web.Response(body=PNG, content_type="image/png")
        if name == "chunked":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(50):
                await resp.write(b"x" * 4096)
            return resp
        return web.Response(status=404)


@contextlib.asynccontextmanager
async def cdn_and_client() -> AsyncIterator[tuple[CDN, UpstreamClient, UpstreamSandbox]]:
    cdn = CDN()
    runner = web.AppRunner(cdn.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    cdn.port = runner.addresses[0][1]
    try:
        async with UpstreamSandbox(api_key=API_KEY) as gateway, aiohttp.ClientSession() as http:
            yield cdn, UpstreamClient(http, gateway.base_url, API_KEY), gateway
    finally:
        await runner.cleanup()


REFUSED = ["other-host", "other-port", "file", "gopher", "loop", "empty"]


@scenario(
    "security",
    "result downloads: http(s) only, same-host redirects only, size and time caps, "
    "no key to other hosts",
    sees="(the bot) refuses other hosts and schemes; posts the link instead",
)
async def test_download_rules(note: Note) -> None:
    async with cdn_and_client() as (cdn, client, gateway):
        base = f"http://127.0.0.1:{cdn.port}"
        assert await client.download(f"{base}/img.png", max_bytes=10_000) == PNG
        assert await client.download(f"{base}/relative", max_bytes=10_000) == PNG
        assert await client.download(f"{base}/absolute", max_bytes=10_000) == PNG
        served = [p for p, _ in cdn.requests].count("img.png")
        for name in REFUSED:
            with pytest.raises(UpstreamFailure, match="download refused"):
                await client.download(f"{base}/{name}", max_bytes=10_000)
        assert [p for p, _ in cdn.requests].count("img.png") == served  # no hop was followed
        for url in ("file:///etc/passwd", "data:image/png;base64,AAAA", "ftp://127.0.0.1/x",
                    "javascript:alert(1)", "//127.0.0.1/x"):  # fmt: skip
            with pytest.raises(UpstreamFailure, match="only http"):
                await client.download(url, max_bytes=10_000)
        with pytest.raises(MediaTooLarge):
            await client.download(f"{base}/chunked", max_bytes=50_000)
        with pytest.raises(MediaTooLarge):
            await client.download(f"{base}/img.png", max_bytes=10)
        with pytest.raises(UpstreamTimeout):
            await client.download(f"{base}/slow", max_bytes=10_000, timeout=0.5)
        assert [auth for _, auth in cdn.requests if auth] == []  # the key stays with the gateway
        await client.download(f"{gateway.base_url}/v1/models", max_bytes=100_000)
        assert gateway.records[-1].authorized  # … where it is needed


@scenario(
    "security",
    "a Midjourney result URL that redirects to another host",
    sees="the card with its buttons and a link; the other host is never asked",
    lost="the image is not attached (link instead)",
)
async def test_result_redirect_to_other_host(note: Note) -> None:
    async with cdn_and_client() as (cdn, _, _gateway), world() as w:
        mj = w.upstream.midjourney
        evil = f"http://127.0.0.1:{cdn.port}/other-host"

        def tasks(_rid: str) -> list[dict[str, Any]]:
            return [
                {**task_json(mj, t, w.upstream.base_url), "imageUrl": evil}
                for t in mj.tasks.values()
            ]

        w.upstream.inject(r"/mj/task/list-by-condition$", 200, tasks, times=None)  # type: ignore[arg-type]
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        card = await finished_card(w)
        assert card.attachments == [] and evil in card.content
        assert [p for p, _ in cdn.requests] == ["other-host"]
        await settled(w, note, action_charge(w, "mj_imagine"))


PRIVATE = [
    "http://10.0.0.7/result.png",
    "http://192.168.1.20/result.png",
    "http://172.16.0.1/result.png",
    "http://100.64.0.1/result.png",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # the same, IPv6
    "http://[fe80::1]/x",
    "http://0.0.0.0/x",
]


@scenario(
    "security",
    "result links naming a private, link-local (cloud metadata) or loopback address that is "
    "not the gateway's own host",
    sees="(the bot) refuses them before connecting; the gateway's own host, even on 127.0.0.1, "
    "still works",
)
async def test_download_refuses_private_addresses(
    note: Note, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cdn_and_client() as (cdn, sandbox_client, gateway), aiohttp.ClientSession() as http:
        for url in PRIVATE:
            for client in (sandbox_client, UpstreamClient(http, "https://gw.example", API_KEY)):
                with pytest.raises(UpstreamFailure, match="a private address"):
                    await client.download(url, max_bytes=10_000, timeout=5)
        # A gateway on a public host: this machine's loopback is someone else's, refused too.
        public = UpstreamClient(http, "https://gateway.example.com", API_KEY)
        loopback = [
            f"http://127.0.0.1:{cdn.port}/img.png",
            f"http://localhost:{cdn.port}/img.png",
            f"http://[::1]:{cdn.port}/img.png",
            f"http://[::ffff:127.0.0.1]:{cdn.port}/img.png",
            f"http://127.1.2.3:{cdn.port}/img.png",
        ]
        for url in loopback:
            with pytest.raises(UpstreamFailure, match="a private address"):
                await public.download(url, max_bytes=10_000, timeout=5)
        assert cdn.requests == []  # refused before connecting

        # The gateway's own host is trusted whatever its address (the sandbox on 127.0.0.1).
        own = f"{gateway.base_url}/v1/models"
        assert await sandbox_client.download(own, max_bytes=100_000)
        assert await sandbox_client.download(f"http://127.0.0.1:{cdn.port}/img.png",
                                             max_bytes=10_000) == PNG  # fmt: skip

        # The address checked is the address connected to: the name is looked up once, so
        # it cannot answer a public address to the check and a private one to the connection
        # (DNS rebinding). "cdn.test" exists only in this one lookup.
        lookups: list[str] = []

        async def resolve(host: str, port: int, **_kw: Any) -> list[Any]:
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve)
        url = f"http://cdn.test:{cdn.port}/img.png"
        assert await sandbox_client.download(url, max_bytes=10_000) == PNG
        assert lookups == ["cdn.test"] and cdn.hosts[-1] == f"cdn.test:{cdn.port}"


@scenario(
    "security",
    "a chat-format image model answers with a link to the cloud metadata address",
    sees="the card with the link as text; the bot never fetched it",
    lost="nothing: nothing was fetched, the job ran and is charged",
)
async def test_model_text_link_to_metadata(note: Note, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    metadata = "http://169.254.169.254/latest/meta-data/iam/credentials.png"
    models = [ImageModel(name="flux-schnell", adapter="chat", price=15).model_dump()]
    async with world(image={"models": models}) as w:
        w.upstream.chat.reply = f"Here is your picture: ![image]({metadata})"
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox", "model": "flux-schnell"})
        card = await finished_card(w)
        assert card.attachments == [] and metadata in card.content
        refused = [r.getMessage() for r in caplog.records if r.name == "bot.upstream.addresses"]
        assert refused == ["download refused: 169.254.169.254 has a private address"]
        note(sees=f"the card, with “{card.content.splitlines()[-1][:90]}”")
        await settled(w, note, image_model_charge(w, "flux-schnell"))
