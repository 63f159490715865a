"""Suite-wide: every test starts with Python's default Decimal context.

ccxt's precision helpers set ROUND_HALF_UP (and an Underflow trap) on the context of the thread
that calls them; without this, a test's Decimal results would depend on which tests ran first.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _default_decimal_context() -> Iterator[None]:
    decimal.setcontext(decimal.Context())
    yield
