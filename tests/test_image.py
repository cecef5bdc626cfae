"""The container image, built with podman and checked by scripts/image_check.sh.

The script builds the Dockerfile (reusing podman's build cache), runs `atelier demo` and
`atelier doctor` in the image as its non-root user, serves the bot from it against the
sandboxes, checks /healthz, /data and a clean SIGTERM. Without podman or the locally imported
base image it reports why and the test is skipped with that reason; it never downloads a base.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.sandbox.world import POSTGRES_SWITCH

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "image_check.sh"
SKIPPED = 77  # the script's exit code when podman or the base image is missing
TIMEOUT = 900  # a build without cache installs every dependency from the index


def test_the_image_builds_and_serves_against_the_sandboxes() -> None:
    if os.environ.get(POSTGRES_SWITCH) == "postgres":
        pytest.skip("the image keeps SQLite in /data; it is checked in the SQLite run")
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    out = done.stdout + done.stderr
    if done.returncode == SKIPPED:
        pytest.skip(out.strip().splitlines()[-1])
    assert done.returncode == 0, out[-4000:]
    figures = dict(line.split()[1:3] for line in out.splitlines() if line.startswith("figure "))
    assert set(figures) == {"build_seconds", "image_bytes", "stop_ms"}
    assert int(figures["stop_ms"]) < 30_000
    for check in (
        "atelier demo, as uid 10001, with no network",
        "Demo finished",
        "discord   ok",
        "healthy: podman healthcheck run and /healthz say ok",
        "/data is 10001:10001",
        "holds the config's database",
        "SIGTERM: exit 0",
        "all checks passed",
    ):
        assert check in out, out[-4000:]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_readme_ci_and_image_install_the_same_pinned_releases() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = re.findall(r"^pip install .*$", readme, flags=re.MULTILINE)
    assert len(installs) == 2
    for command in installs:
        assert "-c constraints.txt" in command and command in ci.splitlines()
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("-c constraints.txt") == 2
    assert "ATELIER_DATABASE_URL" not in dockerfile

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + [
        dep for extra in project["optional-dependencies"].values() for dep in extra
    ]
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pinned = {_name(line): line for line in lines if line and not line.startswith("#")}
    assert all("==" in line for line in pinned.values())
    assert {_name(dep) for dep in wanted} <= set(pinned)
