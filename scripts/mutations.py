"""Break the credit rules on purpose, one at a time, and show which reliability rows notice.

    python scripts/mutations.py [--only NAME[,NAME]] [-- extra pytest args]

Each mutation is a small edit of the bot's code that a real bug could make (charging a cut-off
answer in full, charging a failed job, skipping a refund, charging a replayed event again,
refunding twice). For each, this copies the working tree to a temporary folder, applies the
edit there (it must match exactly once, or the script says the mutation no longer applies),
runs ``pytest tests/reliability`` in the copy and lists the rows that failed. A mutation no row
catches is a hole in the suite: the script then exits 1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = "tests/reliability"
SKIP = {".git", ".venv", ".venv-ci", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    edits: tuple[tuple[str, str, str], ...]  # (file, text, replacement): each text once


MUTATIONS = (
    Mutation(
        "cut-off-charged-in-full",
        "an answer cut off mid-stream is charged the whole estimate held",
        (
            (
                "bot/answers.py",
                "cost = self.cost(choice, messages, text, trusted) if text else 0",
                "cost = (self.cost(choice, messages, text, trusted) if trusted is not None "
                "or not text else hold.amount) if text else 0",
            ),
        ),
    ),
    Mutation(
        "failed-job-charged",
        "a job that fails or times out is charged instead of refunded",
        (
            (
                "bot/jobs.py",
                'await self.ledger.close_in(conn, job.hold_id, 0, "refunded")',
                'await self.ledger.close_in(conn, job.hold_id, 10**9, "settled")',
            ),
        ),
    ),
    Mutation(
        "work-after-failed-ack",
        "when Discord refuses the acknowledgement, the command goes on to hold and call the "
        "upstream anyway",
        (
            (
                "bot/acknowledge.py",
                "    await interaction.response.defer(ephemeral=private, thinking=True)\n",
                "    with contextlib.suppress(discord.HTTPException):\n"
                "        await interaction.response.defer(ephemeral=private, thinking=True)\n",
            ),
        ),
    ),
    Mutation(
        "error-after-hold-not-refunded",
        "an exception between the hold and the settle leaves the credit held",
        (
            (
                "bot/ledger.py",
                "            await self.refund(hold)\n            raise\n",
                "            raise\n",
            ),
        ),
    ),
    Mutation(
        "replayed-message-charged-again",
        "a thread message Discord delivers twice is answered and charged twice",
        (
            (
                "cogs/gpt.py",
                'key = f"thread:{message.id}"',
                "key = f\"thread:{message.id}:{__import__('uuid').uuid4().hex}\"",
            ),
        ),
    ),
    Mutation(
        "refund-twice",
        "closing a hold that is already closed moves its credit back again",
        (
            (
                "bot/ledger_sql.py",
                "WHERE id = :id AND status = 'open' RETURNING",
                "WHERE id = :id RETURNING",
            ),
            (
                "bot/ledger.py",
                'kind, back, f"{kind}:{row.key}",',
                "kind, back, f\"{kind}:{row.key}:{__import__('uuid').uuid4().hex}\",",
            ),
        ),
    ),
)


def copy_tree(destination: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith((".db", ".db-wal", ".db-shm"))}

    shutil.copytree(ROOT, destination, ignore=ignore)


def apply(mutation: Mutation, tree: Path) -> None:
    for file, text, replacement in mutation.edits:
        path = tree / file
        source = path.read_text(encoding="utf-8")
        count = source.count(text)
        if count != 1:
            raise SystemExit(
                f"mutation {mutation.name} no longer applies: {file} has {count} copies of "
                f"{text!r}; update scripts/mutations.py to the code as it is"
            )
        path.write_text(source.replace(text, replacement), encoding="utf-8")


def failed_rows(report: Path) -> list[str]:
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}")
    return failed


def run(mutation: Mutation, pytest_args: list[str]) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory(prefix="atelier-mutation-") as folder:
        tree = Path(folder) / "tree"
        copy_tree(tree)
        apply(mutation, tree)
        report = Path(folder) / "report.xml"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}", *pytest_args],
            cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        return (failed_rows(report) if report.exists() else ["(pytest wrote no report)"]), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation names")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only.split(",")]
    missed = []
    print("| mutation | what it breaks | rows that caught it | seconds |")
    print("|---|---|---|---|")
    for mutation in chosen:
        caught, seconds = run(mutation, args.pytest_args)
        shown = ", ".join(f"`{c}`" for c in caught[:4]) + (
            f" and {len(caught) - 4} more" if len(caught) > 4 else ""
        )
        print(f"| {mutation.name} | {mutation.what} | {len(caught)}: {shown or 'NONE'} "
              f"| {seconds:.0f} |", flush=True)  # fmt: skip
        if not caught:
            missed.append(mutation.name)
    if missed:
        print(f"not caught by any row: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
