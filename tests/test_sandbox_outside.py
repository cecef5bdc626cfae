"""The sandboxes stand for the outside world (Discord, the gateway), so they are built without the
bot's code: a rule the bot gets wrong must not be shared by the sandbox that checks it, and
bench/ack.py lays today's sandbox over older bot trees. Only the harness that starts the bot
(bot/sandbox/world.py) imports it."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[1] / "bot" / "sandbox"
HARNESS = SANDBOX / "world.py"


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_sandbox_imports_nothing_of_the_bot_but_itself() -> None:
    files = [p for p in SANDBOX.rglob("*.py") if p != HARNESS]
    assert len(files) > 10  # the rule is checked on the sandbox, not on an empty folder
    found = {
        f"{path.relative_to(SANDBOX)}: {name}"
        for path in files
        for name in imported(path)
        if (name == "bot" or name.startswith(("bot.", "cogs")))
        and not name.startswith("bot.sandbox")
    }
    assert not found
