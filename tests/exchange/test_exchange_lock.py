"""One engine per exchange key: an OS lock whose file name never contains the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from oxbot.engine.exchange.errors import KeyInUse
from oxbot.engine.exchange.lock import ExchangeKeyLock


def test_second_holder_is_refused_until_release(tmp_path: Path) -> None:
    key = "AKIA-very-secret-key"
    with ExchangeKeyLock(tmp_path, "binance", key):
        with pytest.raises(KeyInUse, match="already trades with this binance key"):
            ExchangeKeyLock(tmp_path, "binance", key).acquire()
        ExchangeKeyLock(tmp_path, "binance", "another-key").acquire()  # other keys are free
        assert all(key not in p.name for p in tmp_path.iterdir())
    with ExchangeKeyLock(tmp_path, "binance", key):
        pass
