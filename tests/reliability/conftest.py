"""The reliability suite's bookkeeping: every test is a scenario with a line for RELIABILITY.md.

``@scenario(area, fault, sees=…, lost=…)`` names what was tried, what a member sees and what
(if anything) is lost; a test may refine those lines while it runs through the ``note`` fixture
(parametrized cases, figures measured in the run). The hook below copies them, with the ledger
figures the test recorded, into ``report.user_properties``: ``scripts/reliability_report.py``
reads them from there and writes the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# sees and lost: what the test asserts (its own words); seen and charged: what it observed.
FIELDS = ("area", "fault", "sees", "lost", "seen", "charged", "ledger")
_NOTES = pytest.StashKey[dict[str, str]]()


def scenario(area: str, fault: str, *, sees: str, lost: str = "nothing") -> pytest.MarkDecorator:
    """Mark a test as one row of the report."""
    return pytest.mark.scenario(area=area, fault=fault, sees=sees, lost=lost)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(area, fault, sees, lost): one row of RELIABILITY.md"
    )


class Note:
    """Lines a running test adds to or overrides in its report row."""

    def __init__(self, store: dict[str, str]) -> None:
        self._store = store

    def __call__(self, **fields: Any) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise TypeError(f"unknown report fields {sorted(unknown)}")
        self._store.update({k: str(v) for k, v in fields.items()})


@pytest.fixture
def note(request: pytest.FixtureRequest) -> Iterator[Note]:
    yield Note(request.node.stash.setdefault(_NOTES, {}))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    marker = item.get_closest_marker("scenario")
    fields: dict[str, str] = dict(marker.kwargs) if marker else {}
    fields.update(item.stash.get(_NOTES, {}))
    for key in FIELDS:
        if key in fields:
            report.user_properties.append((f"scenario.{key}", fields[key]))
