"""`atelier demo` plays its script against the sandboxes and prints what members see."""

from __future__ import annotations

import pytest

from bot.demo import run_demo


async def test_demo_transcript(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no operator config.toml here
    assert await run_demo(None) == 0
    out = capsys.readouterr().out
    assert "alice: /credit balance" in out
    assert "This server has **1,000** credits." in out
    assert "本服务器当前有 **1,000** 积分。" in out
    assert "/gpt prompt:Plan three days in Kyoto" in out
    assert "streamed in" in out and "-# gpt-4o-mini" in out
    assert "nishin soba" in out
    assert "/imagine prompt:a red fox" in out and "presses [U2]" in out
    assert "/song prompt:" in out and ".mp3" in out
    assert "/video prompt:" in out and "atelier-4.mp4" in out
    assert "Demo finished" in out
