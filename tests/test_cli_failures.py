"""An admin's first hour: every ordinary failure, through the installed ``atelier`` executable.

Each case runs ``atelier`` in a subprocess with a clean environment (no ATELIER_* variables)
and asserts the exit code, the setting or service named, and that no traceback is printed.
Cases run concurrently; timeouts are short through the config (``discord.connect_timeout``,
``discord.startup_timeout``) and ``doctor --timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from tests.bot_process import write_config

ROOT = Path(__file__).resolve().parent.parent
FAST = {"connect_timeout": 0.5, "startup_timeout": 1.5}


def atelier_executable() -> str:
    beside = Path(sys.executable).with_name("atelier")
    found = str(beside) if beside.exists() else shutil.which("atelier")
    assert found, "the atelier console script is not installed (pip install .)"
    return found


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def assert_clean(self, code: int, *named: str) -> None:
        assert self.code == code, self.text
        assert "Traceback" not in self.text, self.text
        for word in named:
            assert word in self.text, (word, self.text)


# At most this many processes at once, so a loaded machine is not swamped (each imports the
# bot); one semaphore per event loop, as each test has its own loop.
AT_ONCE = 4
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def atelier(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Result:
    slots = _slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(AT_ONCE))
    async with slots:
        process = await asyncio.create_subprocess_exec(
            atelier_executable(), *args, cwd=cwd, env=env or clean_env(cwd),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def start_run(config: Path, cwd: Path) -> asyncio.subprocess.Process:
    """``atelier run`` with its log (stderr) on stdout, to read as it comes."""
    return await asyncio.create_subprocess_exec(
        atelier_executable(), "run", "--config", str(config), cwd=cwd, env=clean_env(cwd),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def read_until(
    process: asyncio.subprocess.Process, seen: list[str], done: Callable[[], bool]
) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(60):
        while not done():
            line = (await process.stdout.readline()).decode()
            assert line, "".join(seen)  # the process ended first
            seen.append(line)


@contextlib.asynccontextmanager
async def silent_endpoint() -> AsyncIterator[int]:
    """Accepts connections and never answers: a reverse proxy whose backend is down."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_file(path: Path, discord: dict[str, object], database: str, **sections: object) -> Path:
    """A config for the sandboxes' shape without starting them (the address is the test)."""
    d = SimpleNamespace(token="t0ken-for-tests", api_base="http://127.0.0.1:1/api/v10",
                        gateway_url="ws://127.0.0.1:1/")  # fmt: skip
    u = SimpleNamespace(base_url="http://127.0.0.1:1", api_key="sk-test-key")
    return write_config(path, d, u, database, discord={**FAST, **discord}, **sections)  # type: ignore[arg-type]


# -- item 1: the example config as shipped --------------------------------------------------


async def test_the_example_config_as_shipped_names_both_secrets(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    blank = tmp_path / "blank.toml"
    blank.write_text('[discord]\ntoken = "   "\n[upstream]\napi_key = "\\t"\n')
    run, doctor, blank_run = await asyncio.gather(
        atelier("run", cwd=tmp_path),
        atelier("doctor", "--timeout", "2", cwd=tmp_path),
        atelier("run", "--config", str(blank), cwd=tmp_path),
    )
    for result in (run, blank_run):
        result.assert_clean(
            2,
            "discord.token: missing; set it in config.toml or ATELIER_DISCORD_TOKEN",
            "upstream.api_key: missing; set it in config.toml or ATELIER_API_KEY",
        )
    doctor.assert_clean(2)
    rows = {line.split()[0] for line in doctor.out.splitlines() if not line.startswith(" ")}
    assert rows == {"config", "database", "discord", "upstream", "gateway"}, doctor.out
    assert "discord   FAIL  discord.token: missing" in doctor.out
    assert "upstream  FAIL  upstream.api_key: missing" in doctor.out
    # Nothing but the report, and nothing left behind.
    assert doctor.err == ""
    assert not (tmp_path / "atelier.db").exists()
    assert f"sqlite {tmp_path / 'atelier.db'}" in doctor.out


# -- item 2: Discord cannot be reached, or refuses ----------------------------------------


async def test_discord_unreachable_is_said_retried_and_given_up(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    refused = f"http://127.0.0.1:{closed_port()}/api/v10"
    async with silent_endpoint() as port, DiscordSandbox() as plain_http:
        silent = f"http://127.0.0.1:{port}/api/v10"
        tls = plain_http.api_base.replace("http://", "https://")
        cases = {
            "refused": (refused, "connection refused"),
            "unknown host": ("http://atelier-no-such-host.invalid/api/v10", "unknown host"),
            "silent": (silent, "no answer within 0.5 s"),
            "tls": (tls, "the TLS handshake failed"),
        }
        configs = {
            name: config_file(tmp_path / f"{i}.toml", {"api_base": base}, db)
            for i, (name, (base, _)) in enumerate(cases.items())
        }
        results = await asyncio.gather(
            *(atelier("run", "--config", str(configs[n]), cwd=tmp_path) for n in cases)
        )
    for (name, (base, reason)), result in zip(cases.items(), results, strict=True):
        origin = base.removesuffix("/api/v10")
        result.assert_clean(4, f"cannot reach Discord at {base}: {reason}", "discord.api_base")
        if name != "tls":  # waiting does not fix a TLS failure: it is said at once
            assert f"waiting for Discord at {origin}" in result.err, (name, result.err)
            assert "discord.startup_timeout" in result.err


async def test_a_token_discord_rejects_a_missing_intent_and_a_silent_gateway(
    tmp_path: Path,
) -> None:
    async with (
        DiscordSandbox() as discord,
        UpstreamSandbox() as upstream,
        silent_endpoint() as port,
    ):
        db = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        wrong = write_config(tmp_path / "wrong.toml", discord, upstream, db,
                             discord={**FAST, "token": "not-the-sandbox-token"})  # fmt: skip
        gateway = f"ws://127.0.0.1:{port}/"
        silent = write_config(tmp_path / "silent.toml", discord, upstream, db,
                              discord={**FAST, "gateway_url": gateway},
                              logging={"format": "plain"})  # fmt: skip
        no_intent = DiscordSandbox()
        async with no_intent:
            no_intent.settings.privileged_intents = 0  # Message Content not enabled in the portal
            second_db = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
            intent = write_config(
                tmp_path / "intent.toml", no_intent, upstream, second_db, discord=FAST
            )
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                listen = f"127.0.0.1:{taken.getsockname()[1]}"
                busy = write_config(tmp_path / "busy.toml", discord, upstream,
                                    f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", discord=FAST,
                                    metrics={"listen": listen})  # fmt: skip
                rejected, refused, unanswered, port_taken = await asyncio.gather(
                    atelier("run", "--config", str(wrong), cwd=tmp_path),
                    atelier("run", "--config", str(intent), cwd=tmp_path),
                    atelier("run", "--config", str(silent), cwd=tmp_path),
                    atelier("run", "--config", str(busy), cwd=tmp_path),
                )
    rejected.assert_clean(2, "discord.token: rejected by Discord (401)", "Reset Token")
    assert "not-the-sandbox-token" not in rejected.text
    refused.assert_clean(5, "4014", "Message Content Intent", "Privileged Gateway Intents",
                         "https://discord.com/developers/applications")  # fmt: skip
    port_taken.assert_clean(2, f"metrics.listen: cannot listen on {listen}")
    # discord.py's own retry notices stay one line each (no traceback) and the start ends.
    unanswered.assert_clean(4, f"connecting shard 0 to the Discord gateway at {gateway}",
                            f"cannot connect to the Discord gateway at {gateway} within 1.5 s",
                            "discord.gateway_url", "Failed to connect for shard_id: 0")  # fmt: skip


async def serve_until_warned(config: Path, cwd: Path, discord: DiscordSandbox, warning: str) -> str:
    """Run the bot until it is connected (READY) and has logged ``warning``; SIGTERM it."""
    process = await start_run(config, cwd)
    seen: list[str] = []
    try:
        await read_until(
            process,
            seen,
            lambda: (
                any(warning in line for line in seen)
                and any(f["event"] == "READY" for f in discord.gateway_log)
            ),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 60)
    output = "".join(seen) + rest.decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    return output


async def test_an_upstream_unusable_at_start_leaves_the_bot_running_and_names_the_commands(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    plain = {"format": "plain", "level": "INFO"}
    async with DiscordSandbox() as d1, DiscordSandbox() as d2, UpstreamSandbox() as upstream:
        down = SimpleNamespace(base_url=f"http://127.0.0.1:{closed_port()}", api_key="sk-key")
        wrong_key = SimpleNamespace(base_url=upstream.base_url, api_key="sk-not-the-key")
        sections = {"discord": FAST, "logging": plain}
        unreachable = write_config(
            tmp_path / "down.toml",
            d1,
            down,
            "sqlite+aiosqlite:///bot.db",
            **sections,  # type: ignore[arg-type]
        )
        rejected = write_config(
            tmp_path / "key.toml",
            d2,
            wrong_key,
            "sqlite+aiosqlite:///key.db",
            **sections,  # type: ignore[arg-type]
        )
        output, key_output = await asyncio.gather(
            serve_until_warned(unreachable, elsewhere, d1, "cannot be reached"),
            serve_until_warned(rejected, elsewhere, d2, "upstream.api_key: rejected"),
        )
    warning = next(line for line in output.splitlines() if "cannot be reached" in line)
    assert f"the upstream at {down.base_url} cannot be reached" in warning
    assert "/gpt" in warning and "/imagine" in warning and "/video" in warning
    key_warning = next(line for line in key_output.splitlines() if "api_key: rejected" in line)
    assert f"rejected by the gateway at {wrong_key.base_url}" in key_warning
    assert "/song" in key_warning and "sk-not-the-key" not in key_output
    # A relative SQLite path lives beside the config file; voice warnings are not shown.
    assert (tmp_path / "bot.db").exists() and not (elsewhere / "bot.db").exists()
    assert "PyNaCl" not in output and "davey" not in output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_while_connecting_exits_cleanly(tmp_path: Path, sig: int) -> None:
    async with silent_endpoint() as port:
        config = config_file(
            tmp_path / "c.toml",
            {"api_base": f"http://127.0.0.1:{port}/api/v10", "startup_timeout": 120},
            f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
            logging={"format": "plain", "level": "INFO"},
        )
        process = await start_run(config, tmp_path)
        seen: list[str] = []
        await read_until(process, seen, lambda: any("waiting for Discord at" in s for s in seen))
        process.send_signal(sig)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    output = "".join(seen) + rest.decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output and "Connector is closed" not in output
    assert "stopped before the bot was connected" in output


async def test_commands_discord_refuses_end_the_start_with_one_line(tmp_path: Path) -> None:
    """A command sync Discord refuses (400 50035 with its errors tree; 403 for a server the
    bot is not in) ends ``atelier run`` with one line naming what was refused and what to do."""
    invalid_name = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME",
                                 "message": "Command name is invalid"}]}  # fmt: skip
    async with DiscordSandbox() as discord, UpstreamSandbox() as upstream:
        discord.inject("PUT", r"^/applications/\d+/commands$", status=400, code=50035,
                       errors={"0": {"name": invalid_name}})  # fmt: skip
        database = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        refused = write_config(tmp_path / "refused.toml", discord, upstream, database,
                               discord=FAST)  # fmt: skip
        stranger = 1234567890123456789  # a server the bot was never invited to
        elsewhere = write_config(tmp_path / "elsewhere.toml", discord, upstream,
                                 f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
                                 discord={**FAST, "sync_guild_ids": [stranger]})  # fmt: skip
        bad_commands, not_invited = await asyncio.gather(
            atelier("run", "--config", str(refused), cwd=tmp_path),
            atelier("run", "--config", str(elsewhere), cwd=tmp_path),
        )
    bad_commands.assert_clean(7, "Discord refused the slash commands globally (HTTP 400, "
                              "code 50035)", "Command name is invalid", "report it")  # fmt: skip
    not_invited.assert_clean(2, f"discord.sync_guild_ids: Discord refused the commands for "
                             f"server {stranger} (HTTP 403, code 50001",
                             "applications.commands")  # fmt: skip
    for result in (bad_commands, not_invited):
        said = [line for line in result.err.splitlines() if line.startswith("atelier:")]
        assert len(said) == 1, result.err
