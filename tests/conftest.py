"""Suite-wide: every test starts with Python's default Decimal context, and the shared helper
modules in tests/support/ are importable by name.

ccxt's precision helpers set ROUND_HALF_UP (and an Underflow trap) on the context of the thread
that calls them; without this, a test's Decimal results would depend on which tests ran first.

pytest runs in importlib mode, so test folders cannot import each other as packages: helpers
used by more than one folder live once in tests/support/ (plain modules, not collected) and are
imported as top-level modules (``from engine_harness import Harness``).
"""

from __future__ import annotations

import decimal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


# A real PostgreSQL server for the tests that ask for one (tests/support/postgres.py): one per
# worker, started on first use; tests marked both_backends run on SQLite and on it.
from postgres import backend, parametrize_backends, pg_server, pg_url  # noqa: E402, F401


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)


@pytest.fixture(autouse=True)
def _default_decimal_context() -> Iterator[None]:
    decimal.setcontext(decimal.Context())
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first (campaigns, SIGKILL runs, the whole engine), in their
    collection order: with pytest-xdist they start on both workers at once and the short
    tests fill the gaps, instead of one worker finishing the run alone with a long one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


FIGURES = "figures"  # record_property(FIGURES, text): printed at the end of every run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The campaigns' and the hostile corpus's figures, printed whatever the output mode
    (quiet, or run by pytest-xdist workers whose own output is not shown): they travel with
    each test's report as a user property."""
    shown = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", ()):
                if name == FIGURES and getattr(report, "when", "") == "call":
                    shown.append(f"{report.nodeid} ({outcome})\n{value}")
    if shown:
        terminalreporter.section("figures")
        for text in shown:
            terminalreporter.write_line(text)
