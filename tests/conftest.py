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


@pytest.fixture(autouse=True)
def _default_decimal_context() -> Iterator[None]:
    decimal.setcontext(decimal.Context())
    yield
