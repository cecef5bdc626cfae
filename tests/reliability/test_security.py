"""Security: secrets stay secret, privileged actions are checked by the bot itself, result
downloads go only where they should, and one member cannot flood past the spending gate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.errors import MediaTooLarge, UpstreamFailure, UpstreamTimeout
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.midjourney import task_json
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.wire import mj_error, openai_error
from bot.sandbox.world import SandboxWorld
from bot.upstream.client import UpstreamClient
from tests.helpers import final_answer, run_slash, wait_until
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    EXTENSIONS,
    STARTING_BALANCE,
    config,
    ephemeral_reply,
    finished_card,
    settled,
    world,
)

ROOT = Path(__file__).resolve().parents[2]
DISCORD_TOKEN = "MTE5ODc2NTQzMjEw.GsEcRt.the-discord-token-of-the-reliability-suite"
API_KEY = "sk-reliabilitySuiteSecretKey0123456789abcdef"
SECRETS = (DISCORD_TOKEN, API_KEY, API_KEY.removeprefix("sk-"))
PNG = sandbox_png("cdn", False, None)


def secret_world(**sections: Any) -> SandboxWorld:
    w = SandboxWorld(
        config=config(**sections), discord_options={"token": DISCORD_TOKEN}, extensions=EXTENSIONS
    )
    w.upstream.api_key = API_KEY
    return w


def leaks(texts: list[str]) -> list[str]:
    return [t[:200] for t in texts if any(secret in t for secret in SECRETS)]


# --- secrets --------------------------------------------------------------------------------


@scenario(
    "security",
    "the Discord token and the API key, across a run with errors (DEBUG logs, messages, "
    "embeds, requests, exceptions, CLI output)",
    sees="errors without secrets; an echoed key shows as sk-***",
)
async def test_secrets_never_leak(
    note: Note, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    async with secret_world() as w:
        member = w.add_member("alice")
        admin = w.add_member("admin", permissions=0x20)  # Manage Server
        await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "hello"}))
        echo = openai_error(f"invalid key {API_KEY} / {SECRETS[2]} (request id: 1)", code="")
        w.upstream.inject(r"^/v1/chat/completions$", 401, echo)
        await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "again"}))
        w.upstream.inject(r"^/v1/chat/completions$", 500, echo)
        [refused] = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "more"}))
        assert "invalid key sk-*** / sk-***" in refused.content
        w.upstream.inject(r"^/mj/submit/imagine$", 500, mj_error(4, f"bad key {API_KEY}"))
        await ephemeral_reply(w, await run_slash(w, member, "imagine", {"prompt": "one"}))
        w.discord.inject("PATCH", r"/messages/@original$", status=502, times=1, skip=1)
        await run_slash(w, member, "imagine", {"prompt": "two"})
        await finished_card(w)
        await run_slash(w, admin, "credit history")
        w.upstream.inject(r"^/v1/chat/completions$", 200, "data: {broken\n\n",
                          content_type="text/event-stream")  # fmt: skip
        await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "third"}))
        await settled(w, note)

        texts = [logging.Formatter().format(r) for r in caplog.records]
        for message in w.discord.store.messages.values():
            texts += [message.content, json.dumps(message.embeds), json.dumps(message.components)]
        texts += [json.dumps(r["json"]) for r in w.discord.records]
        texts += [json.dumps(r.json) for r in w.upstream.records]
        assert leaks(texts) == []
        cli = await doctor_output(w, tmp_path)
        assert "upstream.api_key: rejected" in cli and leaks([cli]) == []
        note(sees=f"nothing leaked in {len(texts)} texts and the CLI output")


async def doctor_output(w: SandboxWorld, tmp_path: Path) -> str:
    """`atelier doctor` against the sandboxes with a key the gateway echoes back on refusal."""
    w.upstream.inject(".*", 401, openai_error(f"无效的令牌 {API_KEY}"), times=None)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[discord]\ntoken = "{DISCORD_TOKEN}"\napi_base = "{w.discord.api_base}"\n'
        f'gateway_url = "{w.discord.gateway_url}"\n'
        f'[upstream]\nbase_url = "{w.upstream.base_url}"\napi_key = "{API_KEY}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "doctor.db"}"\n',
        encoding="utf-8",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", "--config", str(path),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    return output.decode(errors="replace")


# --- privileged actions -------------------------------------------------------------------------

MANAGE_GUILD = 0x20
PRIVILEGED = [
    ("credit grant", {"amount": 500}, "Only the bot's operators"),
    ("credit set", {"amount": 5}, "Only the bot's operators"),
    ("admin upstream", {}, "Only the bot's operators"),
    ("credit limit", {"target": "MEMBER", "amount": 1}, "You need the Manage Server permission"),
    ("credit cooldown", {"command": "gpt", "seconds": 60}, "You need the Manage Server"),
    ("credit alert", {"channel": "CHANNEL", "threshold": 5}, "You need the Manage Server"),
    ("credit history", {}, "You need the Manage Server permission"),
    ("credit usage", {}, "You need the Manage Server permission"),
    ("admin moderation", {"enabled": True}, "You need the Manage Server permission"),
]


@pytest.mark.parametrize(
    ("command", "options", "expected"), PRIVILEGED, ids=[p[0] for p in PRIVILEGED]
)
@scenario(
    "security",
    "operator-only and Manage-Server commands used by a plain member (and by an admin, for "
    "operator-only ones)",
    sees="private: Only the bot's operators can do that… / You need the Manage Server permission",
)
async def test_privileged_commands(
    note: Note, command: str, options: dict[str, Any], expected: str
) -> None:
    async with world() as w:
        member = w.add_member("member")
        admin = w.add_member("admin", permissions=MANAGE_GUILD)
        actors = [member, admin] if "operators" in expected else [member]
        filled = {
            k: (member if v == "MEMBER" else w.channel_id if v == "CHANNEL" else v)
            for k, v in options.items()
        }
        for actor in actors:
            handle = await run_slash(w, actor, command, filled)
            reply = await ephemeral_reply(w, handle)
            assert expected in reply.content, reply.content
        assert w.upstream.records == []
        policies = await w.services.policies.get(w.guild_id)
        assert policies.log_channel_id is None
        note(fault=f"/{command} by a member without the right", sees=f"private: {reply.content}")
        assert await settled(w, note) == STARTING_BALANCE


@scenario(
    "security",
    "/gpts default by a member without Manage Server",
    sees="private: You need the Manage Server permission to do that.",
)
async def test_gpts_default_needs_manage_server(note: Note) -> None:
    async with world() as w:
        member = w.add_member("member")
        await run_slash(w, member, "gpts add", {"id": "g-2fkFE8rbu"})
        handle = await run_slash(w, member, "gpts default", {"gpt": "g-2fkFE8rbu"})
        reply = await ephemeral_reply(w, handle)
        assert "Manage Server" in reply.content
        assert await w.services.gpt_catalog.default(w.guild_id) is None


@scenario(
    "security",
    "the ledger's page buttons pressed after the presser lost Manage Server",
    sees="private: You need the Manage Server permission to do that.",
)
async def test_history_button_checks_permission(note: Note) -> None:
    async with world() as w:
        role = w.discord.add_role(w.guild_id, "treasurer", MANAGE_GUILD)
        admin = w.add_member("admin", roles=[role])
        for n in range(12):
            await w.services.ledger.grant(w.guild_id, 1, key=f"g{n}")
        handle = await run_slash(w, admin, "credit history")
        [page] = w.discord.interaction_messages(handle)
        next_id = [c["custom_id"] for row in page.components for c in row["components"]][1]
        w.discord.store.roles[role].permissions = 0  # the role lost Manage Server
        press = await w.discord.click(page.id, next_id, admin)
        reply = await ephemeral_reply(w, press)
        assert "Manage Server" in reply.content and reply.id != page.id
        assert page.embeds[0]["footer"]["text"] == "Page 1 of 2"


@scenario(
    "security",
    "a modal submitted by someone it was not shown to",
    sees="nothing happens (discord.py keys modals by member); nothing is charged",
)
async def test_modal_of_another_member(note: Note) -> None:
    async with world() as w:
        owner = w.add_member("owner")
        other = w.add_member("other")
        await run_slash(w, owner, "imagine", {"prompt": "a castle"})
        grid = await finished_card(w)
        ids = [c["custom_id"] for row in grid.components for c in row["components"]]
        press = await w.discord.click(grid.id, ids[0], owner)  # U1
        await press.wait_response()
        upscale = await finished_card(w, 1)
        labels = [c.get("label") for row in upscale.components for c in row["components"]]
        region = [c["custom_id"] for row in upscale.components for c in row["components"]][
            labels.index("Vary (Region)")
        ]
        opened = await w.discord.click(upscale.id, region, owner)
        await opened.wait_response()
        modal_id = opened.modal["custom_id"]
        modals = w.discord.interactions.modals
        modals[(other, modal_id)] = modals[(owner, modal_id)]  # a forged submit for it
        submit = await w.discord.submit_modal(
            w.guild_id, w.channel_id, other, modal_id, {"prompt": "steal"}
        )
        with pytest.raises(TimeoutError):
            await submit.wait_response(timeout=1.0)
        assert w.upstream.requests_to("/mj/submit/modal") == []
        assert await settled(w, note) == STARTING_BALANCE - 20 - 10


# --- downloads ----------------------------------------------------------------------------------


class CDN:
    """Another host serving result files, with redirects of every kind."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append((name, request.headers.get("Authorization")))
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
        await settled(w, note)


# --- flooding -----------------------------------------------------------------------------------


async def flood(w: SandboxWorld, member: int, count: int) -> list[Any]:
    handles = [
        await w.discord.slash(w.guild_id, w.channel_id, member, "gpt", {"prompt": f"q{n}"})
        for n in range(count)
    ]
    for handle in handles:
        await handle.wait_response(timeout=10)
    return handles


@scenario(
    "security",
    "one member fires 30 /gpt at once against a 60 s cooldown",
    sees="one answer; 29 private “Please wait 60 s before using /gpt again.”",
)
async def test_flood_against_cooldown(note: Note) -> None:
    async with world() as w:
        member = w.add_member("flooder")
        await w.services.policies.set_cooldown(w.guild_id, "gpt", 60)
        w.upstream.chat.pace = 0.01
        handles = await flood(w, member, 30)
        await wait_until(lambda: w.bot.work.running == 0)
        texts = [m.content for h in handles for m in w.discord.interaction_messages(h)]
        waits = [t for t in texts if t.startswith("Please wait")]
        assert len(waits) == 29
        assert len(w.upstream.requests_to("/v1/chat/completions")) == 1
        await settled(w, note)


@scenario(
    "security",
    "one member fires 30 /gpt at once against a daily cap",
    sees="as many answers as the cap allows; the rest: private “You have reached your daily "
    "limit…”",
)
async def test_flood_against_daily_cap(note: Note) -> None:
    async with world() as w:
        member = w.add_member("flooder")
        await w.services.policies.set_limit(w.guild_id, "member", member, 20)
        w.upstream.chat.stall_after_chars = 4  # every answer holds its estimate for a while
        w.upstream.chat.stall_seconds = 1.0
        handles = await flood(w, member, 30)
        await wait_until(lambda: w.bot.work.running == 0, timeout=20)
        holds = [await w.services.ledger.get_hold(f"gpt:{h.id}") for h in handles]
        [amount] = {h.amount for h in holds if h is not None}
        allowed = 20 // amount
        calls = w.upstream.requests_to("/v1/chat/completions")
        texts = [m.content for h in handles for m in w.discord.interaction_messages(h)]
        capped = [t for t in texts if t.startswith("You have reached your daily limit")]
        assert len(calls) == allowed and len(capped) == 30 - allowed
        async with w.services.db.read() as conn:
            from bot.spending import day_start

            spent = await w.services.spending.spent_since(
                conn, w.guild_id, member, day_start(w.services.spending._clock())
            )
        assert spent <= 20
        note(sees=f"{allowed} answers (estimate {amount} each, cap 20); {len(capped)} refusals")
        await settled(w, note)
