"""Break the credit rules on purpose, one at a time, and show which reliability rows notice.

    python scripts/mutations.py [--only NAME[,NAME]] [--no-baseline] [-- extra pytest args]

Each mutation is a small edit of the bot's code that a real bug could make (charging a cut-off
answer in full, charging a failed job, skipping a refund, charging a replayed event again,
refunding twice). For each, this copies the working tree to a temporary folder, applies the
edit there, runs ``pytest tests/reliability`` in the copy and lists the rows that failed.

A mutation only counts when it really ran: every edit must match exactly once (all mutations
are checked before anything runs, and each one that no longer applies is named), the mutated
file must compile, the copy's suite must import the copy, and the suite must run the same rows
as an unmutated baseline run; a row that fails in the baseline too is no catch.

Exit status: 0 every mutation caught; 1 a mutation no row catches (a hole in the suite);
2 a mutation that does not apply or could not be measured (update this script).
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
                "bot/job_endings.py",
                'await self.ledger.close_in(conn, job.hold_id, 0, "refunded")',
                'await self.ledger.close_in(conn, job.hold_id, 1 << 62, "settled")',
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


@dataclass
class Outcome:
    failed: list[str]  # rows that failed or errored
    tests: int  # rows in the report
    seconds: float
    problem: str = ""  # why this run tells nothing about the mutation (then failed is moot)


def copy_tree(destination: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith((".db", ".db-wal", ".db-shm"))}

    shutil.copytree(ROOT, destination, ignore=ignore)


def mismatches(mutation: Mutation, tree: Path) -> list[str]:
    """Each edit that does not find its text exactly once: the code moved or changed, and the
    mutation would otherwise test nothing (it would "survive") or something else."""
    found = []
    for file, text, _ in mutation.edits:
        path = tree / file
        if not path.is_file():
            found.append(f"{file} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(text)
        if count != 1:
            found.append(f"{file} has {count} copies of {text!r} (needs exactly 1)")
    return found


def apply(mutation: Mutation, tree: Path) -> str:
    """Edit the copy; the empty string, or why the mutated code does not even compile (every
    row would fail and the mutation would look caught by all of them)."""
    for file, text, replacement in mutation.edits:
        path = tree / file
        path.write_text(path.read_text(encoding="utf-8").replace(text, replacement), "utf-8")
    for file in dict.fromkeys(file for file, _, _ in mutation.edits):
        try:
            compile((tree / file).read_text(encoding="utf-8"), file, "exec")
        except SyntaxError as error:
            return f"the mutated {file} does not compile: {error}"
    return ""


def imports_from(tree: Path) -> str:
    """Where the suite's Python finds the bot when run in the copy: it must be the copy, not
    the editable install of this tree (then every mutation would silently survive)."""
    found = subprocess.run(
        [sys.executable, "-c", "import bot, cogs; print(bot.__file__); print(cogs.__file__)"],
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    outside = [p for p in found.stdout.split() if not Path(p).resolve().is_relative_to(tree)]
    if found.returncode or outside:
        return f"the suite would not test the copy: imports {found.stdout.split()} {found.stderr}"
    return ""


def run_suite(tree: Path, report: Path, pytest_args: list[str]) -> Outcome:
    started = time.monotonic()
    status = subprocess.run(
        [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", *pytest_args],
        cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    ).returncode  # fmt: skip
    seconds = time.monotonic() - started
    if not report.exists():
        return Outcome([], 0, seconds, f"pytest wrote no report (exit status {status})")
    cases = list(ET.parse(report).getroot().iter("testcase"))
    failed = [
        f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    ]
    # 0: all passed, 1: some failed. Anything else (a collection error, an interruption, a
    # usage error) means rows did not run: their absence is no catch.
    problem = "" if status in (0, 1) else f"pytest exit status {status}, rows did not all run"
    return Outcome(failed, len(cases), seconds, problem)


def run(mutation: Mutation | None, pytest_args: list[str]) -> Outcome:
    """The suite on a fresh copy, mutated unless ``mutation`` is None (the baseline)."""
    with tempfile.TemporaryDirectory(prefix="atelier-mutation-") as folder:
        tree = Path(folder) / "tree"
        copy_tree(tree)
        problem = apply(mutation, tree) if mutation else ""
        problem = problem or imports_from(tree)
        if problem:
            return Outcome([], 0, 0.0, problem)
        return run_suite(tree, Path(folder) / "report.xml", pytest_args)


def listed(rows: list[str], most: int = 4) -> str:
    shown = ", ".join(f"`{r}`" for r in rows[:most])
    return shown + (f" and {len(rows) - most} more" if len(rows) > most else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation names")
    parser.add_argument(
        "--no-baseline", action="store_true",
        help="skip the unmutated run (then a row that fails anyway counts as a catch)",
    )  # fmt: skip
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutations {sorted(unknown)}; known: {[m.name for m in MUTATIONS]}")
    chosen = [m for m in MUTATIONS if not names or m.name in names]

    # Checked before anything runs, and every one named: after a refactor the list of
    # mutations to update is the first thing printed, not a failure halfway through.
    stale = {m.name: found for m in chosen if (found := mismatches(m, ROOT))}
    for name, found in stale.items():
        for line in found:
            print(f"MUTATION DOES NOT APPLY: {name}: {line}", file=sys.stderr, flush=True)

    baseline = Outcome([], 0, 0.0)
    if not args.no_baseline:
        baseline = run(None, args.pytest_args)
        if baseline.problem:
            print(f"the unmutated suite does not run: {baseline.problem}", flush=True)
            return 2
        print(f"baseline (no mutation): {baseline.tests} rows, {len(baseline.failed)} failed "
              f"{listed(baseline.failed)}, {baseline.seconds:.0f} s", flush=True)  # fmt: skip
    flaky = set(baseline.failed)

    print("| mutation | what it breaks | rows that caught it | seconds |")
    print("|---|---|---|---|", flush=True)
    caught_by: dict[str, list[str]] = {}
    broken: list[str] = list(stale)
    for mutation in chosen:
        if mutation.name in stale:
            print(f"| {mutation.name} | {mutation.what} | DOES NOT APPLY: "
                  f"{'; '.join(stale[mutation.name])} | 0 |", flush=True)  # fmt: skip
            continue
        outcome = run(mutation, args.pytest_args)
        if not outcome.problem and baseline.tests and outcome.tests != baseline.tests:
            outcome.problem = f"{outcome.tests} rows ran, the baseline ran {baseline.tests}"
        if outcome.problem:
            broken.append(mutation.name)
            print(f"| {mutation.name} | {mutation.what} | NOT MEASURED: {outcome.problem} "
                  f"| {outcome.seconds:.0f} |", flush=True)  # fmt: skip
            continue
        caught = [row for row in outcome.failed if row not in flaky]
        caught_by[mutation.name] = caught
        print(f"| {mutation.name} | {mutation.what} | {len(caught)}: {listed(caught) or 'NONE'} "
              f"| {outcome.seconds:.0f} |", flush=True)  # fmt: skip

    print("\nEvery row that caught each mutation:")
    for name, caught in caught_by.items():
        print(f"- {name} ({len(caught)}): " + (", ".join(caught) or "NONE"))
    missed = [name for name, caught in caught_by.items() if not caught]
    if missed:
        print(f"not caught by any row: {', '.join(missed)}")
    if broken:
        print(f"not measured (update scripts/mutations.py to the code as it is): "
              f"{', '.join(broken)}")  # fmt: skip
    return 2 if broken else 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
