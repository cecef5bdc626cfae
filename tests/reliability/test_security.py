"""Security: secrets stay secret, and privileged actions are checked by the bot itself.
(Result downloads: test_downloads.py; floods: test_flooding.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.log_setup import build_handler
from bot.sandbox.upstream.wire import mj_error, openai_error
from bot.sandbox.world import SandboxWorld
from bot.upstream.gpts import GPTsClient
from tests.helpers import (
    command_requests,
    final_answer,
    run_answered,
    run_slash,
)
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
    chat_by_usage,
    granted,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    EXTENSIONS,
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


def secret_world(**sections: Any) -> SandboxWorld:
    w = SandboxWorld(
        config=config(**sections), discord_options={"token": DISCORD_TOKEN}, extensions=EXTENSIONS
    )
    w.upstream.api_key = API_KEY
    return w


def leaks(texts: list[str]) -> list[str]:
    return [t[:200] for t in texts if any(secret in t for secret in SECRETS)]


class OnCopies(logging.Handler):
    """Hands a handler a copy of each record: its masking (it edits the record) must not hide
    a raw secret from the checks on what was captured."""

    def __init__(self, inner: logging.Handler) -> None:
        super().__init__(logging.DEBUG)
        self.inner = inner

    def emit(self, record: logging.LogRecord) -> None:
        self.inner.handle(copy.copy(record))


@contextlib.contextmanager
def real_log_handlers() -> Iterator[dict[str, io.StringIO]]:
    """What ``atelier run`` would write, through its own handlers (bot/log_setup.py), in both
    formats and at DEBUG, given the secrets ``atelier run`` gives them."""
    streams = {"json": io.StringIO(), "plain": io.StringIO()}
    handlers = [
        OnCopies(build_handler(fmt, (DISCORD_TOKEN, API_KEY), stream))
        for fmt, stream in streams.items()
    ]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)


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
    with real_log_handlers() as logs:
        texts, cli = await _a_run_with_errors(note, caplog, tmp_path)
        written = {fmt: stream.getvalue() for fmt, stream in logs.items()}
    entries = [json.loads(line) for line in written["json"].splitlines()]  # one object a line
    assert len(entries) > 100 and leaks([written["json"], written["plain"]]) == []
    assert "upstream.api_key: rejected" in cli and leaks([cli]) == []
    note(sees=f"nothing leaked in {len(texts)} texts, {len(entries)} JSON log lines, the plain "
         "log and the CLI output")  # fmt: skip


async def _a_run_with_errors(
    note: Note, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> tuple[list[str], str]:
    """Commands that fail in every way an echoed secret could travel: all a member, Discord and
    the upstream saw, every record logged (as captured, before any masking), and the output of
    `atelier doctor` run against the same sandboxes."""
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
        await settled(w, note, chat_by_usage(w) + action_charge(w, "mj_imagine"))

        texts = [logging.Formatter().format(r) for r in caplog.records]
        for message in w.discord.store.messages.values():
            texts += [message.content, json.dumps(message.embeds), json.dumps(message.components)]
        texts += [json.dumps(r["json"]) for r in w.discord.records]
        texts += [json.dumps(r.json) for r in w.upstream.records]
        assert leaks(texts) == []
        return texts, await doctor_output(w, tmp_path)


@scenario(
    "security",
    "an unexpected exception whose message carries the API key and the Discord token",
    sees="Sorry, something went wrong on our side…; the logs (JSON and plain) show *** instead",
)
async def test_secret_in_unexpected_exception(note: Note, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"GET https://cdn.example/?key={API_KEY}&t={DISCORD_TOKEN} failed")

    with real_log_handlers() as logs:
        async with secret_world() as w:
            monkeypatch.setattr(GPTsClient, "search", broken)
            member = w.add_member("alice")
            handle = await run_slash(w, member, "gpts search", {"query": "cats"})
            reply = await w.discord.wait_for_message(  # private, in place of "thinking…"
                lambda m: m.interaction_id == handle.id and m.ephemeral and bool(m.content)
            )
            assert reply.content.startswith("Sorry, something went wrong")
            assert leaks([m.content for m in w.discord.store.messages.values()]) == []
            await settled(w, note, NOTHING)
        written = {fmt: stream.getvalue() for fmt, stream in logs.items()}
    [entry] = [
        e for e in map(json.loads, written["json"].splitlines()) if "unhandled" in e["message"]
    ]
    assert "RuntimeError: GET https://cdn.example/?key=***&t=*** failed" in entry["exception"]
    assert "key=***&t=***" in written["plain"]
    assert leaks(list(written.values())) == []


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
        assert command_requests(w) == []
        policies = await w.services.policies.get(w.guild_id)
        assert policies.log_channel_id is None
        note(fault=f"/{command} by a member without the right", sees=f"private: {reply.content}")
        await settled(w, note, NOTHING)


@scenario(
    "security",
    "/gpts default by a member without Manage Server",
    sees="private: You need the Manage Server permission to do that.",
)
async def test_gpts_default_needs_manage_server(note: Note) -> None:
    async with world() as w:
        member = w.add_member("member")
        await run_answered(w, member, "gpts add", {"id": "g-2fkFE8rbu"})
        handle = await run_slash(w, member, "gpts default", {"gpt": "g-2fkFE8rbu"})
        reply = await ephemeral_reply(w, handle)
        assert "Manage Server" in reply.content
        assert await w.services.gpt_catalog.default(w.guild_id) is None
        await settled(w, note, NOTHING)


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
        await settled(w, note, granted(12))


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
            labels.index("Custom Zoom")
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
        await settled(w, note, action_charge(w, "mj_imagine", "mj_upscale"))
