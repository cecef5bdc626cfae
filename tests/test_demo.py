"""`atelier demo` plays its script against the sandboxes and prints what members see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.demo import _operator_settings, run_demo
from bot.errors import ConfigError

# What an admin's own ./config.toml may say; the demo must not be steered by any of it.
OPERATOR_CONFIG = """
[discord]
token = ""
[database]
url = "sqlite+aiosqlite:////nowhere/at/all.db"
[credit]
starting_balance = 5
"""
LINE = re.compile(r"^\[\s*[\d.]+s\] (\S+) (\[[a-zA-Z-]+\])?")


async def test_demo_transcript(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(OPERATOR_CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert await run_demo(None) == 0
    out = capsys.readouterr().out
    assert "./config.toml, if there is one, is not read" in out
    assert "This server has **1,000** credits." in out  # the built-in opening credit, not 5
    assert "本服务器当前有 **1,000** 积分。" in out

    # Every command family once, each answered.
    for command in (
        "alice [en-US]: /credit balance",
        "alice [en-US]: /gpt prompt:Plan three days in Kyoto",
        "alice [en-US]: /gpts add id:g-2fkFE8rbu",
        "李雷 [zh-CN]: /imagine prompt:a red fox",
        "李雷 [zh-CN]: presses [U2]",
        "李雷 [zh-CN]: presses [动起来]",
        "alice [en-US]: /describe [attached: kyoto.png]",
        "李雷 [zh-CN]: /blend dimensions:SQUARE [attached: fox.png] [attached: snow.png]",
        "alice [en-US]: /lyrics prompt:",
        "alice [en-US]: /song prompt:",
        "owner [en-US]: /credit set amount:10",
        "李雷 [zh-CN]: /video prompt:",
        "owner [en-US]: /credit grant amount:500",
    ):
        assert command in out
    assert "streamed in" in out and "-# gpt-4o-mini" in out and "nishin soba" in out
    # Read aloud: a voice message replying to the answer, its price told privately.
    assert "alice [en-US]: presses [Read aloud]" in out
    assert "(a voice message replying to the answer): ▶ voice-message.ogg · " in out
    assert "a waveform of " in out and "🔊 Read aloud below for **1** credits." in out
    # A reasoning answer: the live status, the answer without its <think>, the reasoning on demand.
    assert "(while the model thinks): -# 💭 思考中…" in out
    assert "是的，17 是质数" in out and "<think>" not in out
    assert "李雷 [zh-CN]: presses [查看推理过程]" in out and "17 是奇数，17 ÷ 3 余 2" in out
    # Animate: the price in the form's title, then a video that links back to its image.
    assert "(a form): 动起来 · 100 积分" in out and "🖼️ 原图：https://discord.com/channels/" in out
    assert "Added **DALL·E** (`g-2fkFE8rbu`)" in out
    assert "**1.** sandbox scene" in out and "-# Midjourney · describe" in out
    assert "fox.png + snow.png" in out and "Midjourney · blend" in out
    assert "📝 **tea at dawn in Kyoto**" in out and ".mp3" in out and ".mp4" in out
    # The refusal for lack of credit, in the member's language, moved nothing: 10 + 500.
    assert "积分不足：本次需要 **100** 积分，服务器仅剩 **10** 积分。" in out
    assert "Balance: **510**." in out
    assert "本服务器当前有 **410** 积分。" in out  # then the video's 100
    assert "Demo finished" in out

    # Mentions read as names; every member and every answer carries its language.
    assert "<@" not in out and "<#" not in out
    assert "— @李雷" in out and "— @alice" in out
    speakers = [m.groups() for m in map(LINE.match, out.splitlines()) if m]
    assert {who for who, _ in speakers} >= {"alice", "李雷", "owner", "Atelier"}
    tags = {who: tag for who, tag in speakers if who != "Atelier"}
    assert tags == {"alice": "[en-US]", "李雷": "[zh-CN]", "owner": "[en-US]", "bot:": None}
    answers = [line for line in out.splitlines() if LINE.match(line) and "Atelier [" in line]
    assert any("[zh-CN]" in line and "积分" in line for line in answers)
    assert any("[en-US]" in line and "credits" in line for line in answers)


def test_only_a_named_config_is_read(tmp_path: Path) -> None:
    named = tmp_path / "demo.toml"
    named.write_text(OPERATOR_CONFIG, encoding="utf-8")
    assert _operator_settings(None) == {}
    assert _operator_settings(named) == {"credit": {"starting_balance": 5}}
    with pytest.raises(ConfigError) as missing:
        _operator_settings(tmp_path / "missing.toml")
    assert "missing.toml" in missing.value.problems[0][0]
