"""Bad input, each refused with a clear private message in the member's language; it costs
nothing, reaches no upstream and leaves nothing behind (no card, no hold, no row)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main as cli
from tests.helpers import (
    command_requests,
    custom_ids,
    final_answer,
    run_slash,
)
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
    chat_by_usage,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    channel_cards,
    ephemeral_reply,
    finished_card,
    settled,
    world,
)

ROOT = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def untouched(w: Any) -> None:
    """Nothing reached the upstream and no job card was left in the channel."""
    assert [r.path for r in command_requests(w)] == []
    assert channel_cards(w) == []


async def refused(
    w: Any, command: str, options: dict[str, Any] | None = None, *, locale: str = "en-US",
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> str:  # fmt: skip
    """The private refusal's text (which must ping nobody, whatever it quotes)."""
    member = w.add_member(f"m{len(w.discord.store.users)}", locale=locale)
    handle = await run_slash(w, member, command, options, locale=locale, attachments=attachments)
    reply = await ephemeral_reply(w, handle)
    assert reply.ephemeral and not w.discord.mentions_pinged(reply)
    return reply.content


# --- prompts ----------------------------------------------------------------------------------

BLANK = {
    "spaces": "   \n\t ",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "direction marks": "\u202e\u200f\u2066 \u2069",
}


@pytest.mark.parametrize("command", ["gpt", "imagine"])
@pytest.mark.parametrize("kind", list(BLANK))
@scenario(
    "bad input",
    "a prompt of only spaces, zero-width or direction characters",
    sees="private: Please write a prompt… Nothing was charged. (zh-CN: 请输入提示词…)",
)
async def test_blank_prompt(note: Note, command: str, kind: str) -> None:
    async with world() as w:
        locale = "zh-CN" if kind == "zero-width" else "en-US"
        text = await refused(w, command, {"prompt": BLANK[kind]}, locale=locale)
        assert text.startswith("请输入提示词" if locale == "zh-CN" else "Please write a prompt")
        untouched(w)
        note(fault=f"/{command} with a prompt of {kind} only", sees=f"private: {text}")
        await settled(w, note, NOTHING)


@scenario(
    "bad input",
    "a thread reply of only zero-width and direction characters",
    sees="no reply (nothing to answer); nothing charged",
)
async def test_blank_thread_reply(note: Note) -> None:
    async with world() as w:
        member = w.add_member("alice")
        [answer] = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "Hi"}))
        await w.discord.wait_for_message(lambda m: m.channel_id == answer.id)  # the hint
        blank = await w.discord.post_user_message(answer.id, member, "\u200b\u2066\u200f \u2069")
        w.upstream.chat.reply = "the sentinel's answer"
        await w.discord.post_user_message(answer.id, member, "a real question")
        await w.discord.wait_for_message(lambda m: m.content.startswith("the sentinel's answer"))
        # Messages are handled in order: by now the blank one was seen, and ignored.
        assert len(w.upstream.requests_to(CHAT)) == 2  # the first answer and the sentinel's
        assert await w.services.ledger.get_hold(f"thread:{blank}") is None
        await settled(w, note, chat_by_usage(w))


@pytest.mark.parametrize("command", ["gpt", "imagine"])
@scenario(
    "bad input",
    "an empty or oversize prompt (0 or 4001 characters)",
    sees="Discord's own client refuses it (the option allows 1–4000); the bot sees nothing",
)
async def test_empty_or_oversize_prompt(note: Note, command: str) -> None:
    async with world() as w:
        member = w.add_member("alice")
        for prompt in ("", "x" * 4001):
            with pytest.raises(ValueError, match=r"takes 1\.\.4000 characters"):
                await w.discord.slash(w.guild_id, w.channel_id, member, command, {"prompt": prompt})
        untouched(w)
        note(fault=f"/{command} with an empty or a 4001-character prompt")
        await settled(w, note, NOTHING)


HOSTILE = (
    "@everyone @here <@{member}> <@&{role}> **bold** __u__ ~~s~~ ||spoiler|| `code` "
    "# heading\n> quote [link](https://example.com) \u200bzero\u200dwidth \u202eright-to-left"
    "\u202c \u2067isolate\u2069 ``` unclosed fence"
)


@scenario(
    "bad input",
    "/gpt prompt full of mentions, markdown, zero-width and right-to-left characters",
    sees="the answer, thread and hint with the text as written; nobody is pinged",
)
async def test_hostile_prompt_gpt(note: Note) -> None:
    async with world() as w:
        member = w.add_member("mallory")
        role = w.discord.add_role(w.guild_id, "staff")
        prompt = HOSTILE.format(member=member, role=role)
        handle = await run_slash(w, member, "gpt", {"prompt": prompt})
        messages = await final_answer(w, handle)
        assert "@everyone" in messages[0].content
        thread = await w.discord.wait_for_message(lambda m: m.channel_id == messages[0].id)
        everything = [*w.discord.messages(w.channel_id, include_threads=True), thread]
        assert everything and not any(w.discord.mentions_pinged(m) for m in everything)
        [call] = [r for r in w.discord.records if r["path"].endswith("/threads")]
        assert 1 <= len(call["json"]["name"]) <= 100
        await settled(w, note, chat_by_usage(w))


@scenario(
    "bad input",
    "/imagine prompt full of mentions, markdown, zero-width and right-to-left characters",
    sees="the card and result with the text as written; nobody is pinged",
)
async def test_hostile_prompt_imagine(note: Note) -> None:
    async with world() as w:
        member = w.add_member("mallory")
        role = w.discord.add_role(w.guild_id, "staff")
        prompt = HOSTILE.format(member=member, role=role)
        handle = await run_slash(w, member, "imagine", {"prompt": prompt})
        await ephemeral_reply(w, handle)
        card = await finished_card(w)
        assert "@everyone" in card.content
        assert not any(w.discord.mentions_pinged(m) for m in w.discord.messages(w.channel_id))
        await settled(w, note, action_charge(w, "mj_imagine"))


# --- GPT ids, models, attachments ---------------------------------------------------------------

BAD_GPTS = [
    ("not a gpt", "en-US", "No GPT called `not a gpt` is shared"),
    ("https://chatgpt.com/g/xyz", "en-US", "No GPT called"),
    ("g-abc", "zh-CN", "本服务器没有共享名为"),
    ("javascript:alert(1)", "en-US", "No GPT called"),
    ("g-" + "A" * 120, "en-US", "No GPT called"),
]


@pytest.mark.parametrize(
    ("value", "locale", "expected"), BAD_GPTS, ids=[b[0][:20] for b in BAD_GPTS]
)
@scenario(
    "bad input",
    "/gpt with an invalid GPT id or link",
    sees="private: No GPT called `…` is shared in this server. See `/gpts list`.",
)
async def test_invalid_gpt_in_gpt(note: Note, value: str, locale: str, expected: str) -> None:
    async with world() as w:
        text = await refused(w, "gpt", {"prompt": "hi", "gpt": value}, locale=locale)
        assert expected in text, text
        untouched(w)
        note(fault=f"/gpt gpt:{value[:40]}", sees=f"private: {text}")
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(
    "value", ["hello", "https://chatgpt.com/g/", "g-ab", "<@123>", "g-" + "é" * 10]
)
@scenario(
    "bad input",
    "/gpts add with an invalid id or link",
    sees="private: `…` is not a GPT id. Use an id like `g-XXXXXXXX`…",
)
async def test_invalid_gpt_in_gpts_add(note: Note, value: str) -> None:
    async with world() as w:
        text = await refused(w, "gpts add", {"id": value})
        assert "is not a GPT id" in text
        untouched(w)
        assert await w.services.gpt_catalog.list(w.guild_id) == []
        note(fault=f"/gpts add id:{value}", sees=f"private: {text}")
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("gpt", {"prompt": "hi", "model": "no-such-model"}, "There is no model called"),
        ("imagine", {"prompt": "hi", "model": "no-such-model"}, "There is no model called"),
    ],
    ids=["gpt", "imagine"],
)
@scenario(
    "bad input",
    "an unknown model",
    sees="private: There is no model called `no-such-model` here. Pick one from the list.",
)
async def test_unknown_model(
    note: Note, command: str, options: dict[str, Any], expected: str
) -> None:
    async with world() as w:
        text = await refused(w, command, options)
        assert expected in text
        untouched(w)
        note(fault=f"/{command} with an unknown model")
        await settled(w, note, NOTHING)


ATTACHMENTS = [
    ("gpt", "virus.exe", b"MZ\x90\x00", "application/octet-stream", "I can't read `virus.exe`"),
    (
        "gpt",
        "notes.txt",
        "é".encode("latin-1") * 10,
        "text/plain",
        "`notes.txt` is not readable text",
    ),
    (
        "gpt",
        "big.png",
        PNG + b"0" * 1_500_000,
        "image/png",
        "`big.png` is too large; the limit is 1.5 MB.",
    ),
    (
        "gpt",
        "big.md",
        b"# " + b"x" * 3000,
        "text/markdown",
        "`big.md` is too large; the limit is 2 KB.",
    ),
    ("imagine", "notes.txt", b"hello", "text/plain", "`notes.txt` is not an image"),
    ("describe", "song.mp3", b"ID3", "audio/mpeg", "`song.mp3` is not an image"),
]


@pytest.mark.parametrize(
    ("command", "name", "data", "kind", "expected"),
    ATTACHMENTS,
    ids=[f"{a[0]}-{a[1]}" for a in ATTACHMENTS],
)
@scenario(
    "bad input",
    "an attachment of the wrong type, in the wrong encoding or too large",
    sees="private: I can't read `…` / `…` is not readable text… / `…` is too large; the limit is "
    "1.5 MB. / `…` is not an image",
)
async def test_bad_attachment(
    note: Note, command: str, name: str, data: bytes, kind: str, expected: str
) -> None:
    chat = {"max_image_bytes": 1_500_000, "max_text_file_bytes": 2000}
    async with world(chat=chat) as w:
        options = {"prompt": "look"} if command != "describe" else {}
        text = await refused(w, command, options, attachments=[(name, data, kind)])
        assert expected in text, text
        untouched(w)
        note(fault=f"/{command} with {name} ({kind}, {len(data)} bytes)", sees=f"private: {text}")
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(("command", "count"), [("gpt", 2), ("blend", 6)])
@scenario(
    "bad input",
    "too many attachments",
    sees="Discord's client refuses (no attachment option left); the bot sees nothing",
)
async def test_too_many_attachments(note: Note, command: str, count: int) -> None:
    async with world() as w:
        member = w.add_member("alice")
        files = [(f"{i}.png", PNG, "image/png") for i in range(count)]
        options = {"prompt": "hi"} if command == "gpt" else {}
        with pytest.raises(ValueError, match="no attachment option left"):
            await w.discord.slash(
                w.guild_id, w.channel_id, member, command, options, attachments=files
            )
        untouched(w)
        note(fault=f"/{command} with {count} files")
        await settled(w, note, NOTHING)


# --- buttons ----------------------------------------------------------------------------------


async def grid(w: Any, member: int) -> Any:
    w.upstream.midjourney.durations = (0.0, 0.0, 0.0)
    await run_slash(w, member, "imagine", {"prompt": "a boat"})
    return await finished_card(w)


@pytest.mark.parametrize("how", ["other guild", "deleted job", "failed job"])
@scenario(
    "bad input",
    "a button pressed for a job of another guild, a deleted job, or a job that failed",
    sees="private: That job no longer exists or belongs to another server.",
)
async def test_button_on_foreign_or_missing_job(note: Note, how: str) -> None:
    async with world() as w:
        member = w.add_member("alice")
        card = await grid(w, member)
        async with w.services.db.transaction() as conn:
            statement = {
                "other guild": "UPDATE jobs SET guild_id = 1 WHERE id = 1",
                "deleted job": "DELETE FROM jobs WHERE id = 1",
                "failed job": "UPDATE jobs SET status = 'failed' WHERE id = 1",
            }[how]
            await conn.exec_driver_sql(statement)
        requests = len(w.upstream.records)
        handle = await w.discord.click(card.id, custom_ids(card)[0], member)
        reply = await ephemeral_reply(w, handle)
        assert "no longer exists" in reply.content
        assert len(w.upstream.records) == requests
        assert len(channel_cards(w)) == 1
        what = {"other guild": "a job of another guild", "deleted job": "a deleted job"}
        note(fault=f"button pressed on {what.get(how, 'a failed job')}")
        await settled(w, note, action_charge(w, "mj_imagine"))


STALE = "This button no longer works"
FORGED = [
    # Ours and well-formed, naming a job or button that does not exist: the item says so.
    ("atelier:mj:999:0", "no longer exists", "en-US"),
    ("atelier:mj:1:99", "no longer exists", "en-US"),
    ("atelier:mjd:1:3", "no longer exists", "en-US"),
    # Ours but fitting no template (out of range, signs, other digits, extra parts, quotes):
    # the bot-wide fallback answers them.
    ("atelier:mjd:1:9", STALE, "en-US"),
    ("atelier:mj:9999999999999999999999:0", STALE, "en-US"),
    ("atelier:mj:-1:0", STALE, "en-US"),
    ("atelier:mj:١:0", "这个按钮已失效", "zh-CN"),
    ("atelier:hist:99999999999999999999:0:", STALE, "en-US"),
    ("atelier:gpts:page:999999999999999999999999", STALE, "en-US"),
    ("atelier:gpts:add:g-x'; DROP TABLE jobs;--", STALE, "en-US"),
    ("atelier:", STALE, "en-US"),
    # Not ours: such an id may belong to a live, non-persistent View (discord.py names those
    # with random hex and answers them itself), so the fallback must not answer it too; and
    # Discord sends presses only for our own messages, so only a forging client sees nothing.
    ("something-else-entirely", None, "en-US"),
]


@pytest.mark.parametrize(("custom_id", "expected", "locale"), FORGED, ids=[f[0] for f in FORGED])
@scenario(
    "bad input",
    "a forged custom_id on a button",
    sees="private: That job no longer exists… / This button no longer works…; no answer "
    "when the id is not ours",
)
async def test_forged_custom_id(
    note: Note,
    caplog: pytest.LogCaptureFixture,
    custom_id: str,
    expected: str | None,
    locale: str,
) -> None:
    caplog.set_level(logging.WARNING)
    async with world() as w:
        member = w.add_member("alice")
        card = await grid(w, member)
        card.components[0]["components"][0]["custom_id"] = custom_id
        requests = len(w.upstream.records)
        handle = await w.discord.click(card.id, custom_id, member, locale=locale)
        if expected is None:
            with pytest.raises(TimeoutError):
                await handle.wait_response(timeout=0.5)
            sees = "no answer (Discord shows “This interaction failed”): the id is not ours"
        else:
            reply = await ephemeral_reply(w, handle)
            assert expected in reply.content, reply.content
            sees = f"private: {reply.content}"
        assert len(w.upstream.records) == requests
        assert len(channel_cards(w)) == 1  # nothing new was started
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        note(fault=f"button with custom_id {custom_id!r}", sees=sees)
        await settled(w, note, action_charge(w, "mj_imagine"))


# --- where credit cannot apply ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["gpt", "imagine", "credit balance"])
@scenario(
    "bad input",
    "a paid command used in a DM (a client that offered it anyway)",
    sees="private: This command works only inside a server, because the server's credit "
    "pays for it.",
)
async def test_command_in_dm(note: Note, command: str) -> None:
    async with world(discord={"sync_guild_ids": []}) as w:
        member = w.add_member("alice")
        name = command.split()[0]
        with pytest.raises(LookupError, match="not available in DMs"):
            await w.discord.slash(
                None, None, member, command, {"prompt": "hi"} if name != "credit" else {}
            )
        # A client that offers it anyway (or a forged payload): the bot still refuses.
        [definition] = [c for c in w.discord.commands.list(None) if c["name"] == name]
        definition.update(dm_permission=True, contexts=[0, 1, 2])
        options = {} if name == "credit" else {"prompt": "hi"}
        handle = await w.discord.slash(None, None, member, command, options)
        await handle.wait_response(timeout=5)
        [reply] = w.discord.interaction_messages(handle)
        assert "works only inside a server" in reply.content and reply.ephemeral
        untouched(w)
        note(fault=f"/{command} in a DM")
        await settled(w, note, NOTHING)


# --- configuration ------------------------------------------------------------------------------

BAD_CONFIGS = [
    ('[upstream]\nread_timeout = "fast"', "upstream.read_timeout"),
    ("[credit]\nstarting_balance = -5", "credit.starting_balance"),
    ('[chat]\nmodels = "gpt-4o"', "chat.models"),
    ("[jobs]\npoll_initial = []", "jobs.poll_initial"),
    ('[chat]\nreply_mode = "shout"', "chat.reply_mode"),
    ("[discord]\ntoken = 123456789012345678901234", "discord.token"),
    ("[database]\nurl = 7", "database.url"),
    ("[limits]\nrequests_per_minute = -1", "limits.requests_per_minute"),
    ('[limits]\nconcurrent = "a few"', "limits.concurrent"),
]


@pytest.mark.parametrize(("snippet", "key"), BAD_CONFIGS, ids=[b[1] for b in BAD_CONFIGS])
@scenario(
    "bad input",
    "a config value of the wrong type",
    sees="operator: `atelier run` exits 2 and names the key and the reason",
)
def test_config_wrong_type(
    note: Note, tmp_path: Path, capsys: pytest.CaptureFixture[str], snippet: str, key: str
) -> None:
    base = {
        "discord": 'token = "t0ken-for-config-test"',
        "upstream": 'api_key = "sk-config-test-key"',
    }
    section = snippet.split("]")[0].lstrip("[")
    lines = [snippet]
    for name, value in base.items():
        if name != section:
            lines.append(f"[{name}]\n{value}")
        elif "token" not in snippet and "api_key" not in snippet:
            lines[0] = f"{snippet}\n{value}"
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert cli(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"  {key}:" in err, err
    assert "123456789012345678901234" not in err  # a secret's value is never echoed
    note(
        fault=f"config {snippet.splitlines()[1]!r}",
        sees=f"operator: {err.strip().splitlines()[-1].strip()}",
    )


@scenario(
    "bad input",
    "a config value of the wrong type, through the real command line",
    sees="operator: exit status 2, the key named on stderr",
)
def test_config_wrong_type_subprocess(note: Note, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[discord]\ntoken = "t"\n[upstream]\napi_key = "k"\nread_timeout = "soon"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "upstream.read_timeout" in done.stderr
