"""The rolling candle window every market stream keeps (sim and exchange alike).

A stream keeps up to ``MAX_WINDOW`` closed candles and hands its readers a frame of the last
``window()`` of them: ``WINDOW`` bars, or more when a subscribed strategy needs more bars
before its first signal (its warm-up, e.g. ``sma_cross`` with ``slow=2000`` needs 2001). So a
bot that backtests with a long warm-up also trades live. A strategy that would need more than
``MAX_WINDOW`` is refused when the bot is added or edited (``check_warmup``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..arrays import Floats, Times
from ..errors import ConfigError
from ..models import Candle
from .indicators import IndicatorSpec

WINDOW = 300  # bars handed to strategies at least (recursive indicators settle in it)
MAX_WINDOW = 2500  # the longest warm-up a live bot may need; candles kept per stream


def bars_needed(strategy: Any) -> int:
    """The frame length a strategy's bot reads live: its warm-up, at least ``WINDOW``."""
    return max(WINDOW, int(strategy.warmup()))


def check_warmup(strategy: Any, bot: str = "") -> None:
    """ConfigError when ``strategy`` needs more history than a live stream keeps."""
    need = int(strategy.warmup())
    if need > MAX_WINDOW:
        who = f"{bot}: " if bot else ""
        raise ConfigError(
            f"{who}strategy {strategy.name} with these parameters needs {need} bars before its "
            f"first signal, but live market data keeps at most {MAX_WINDOW}; use shorter "
            "lengths (nothing was saved)"
        )


class CandleWindow:
    """Mixin for a stream dataclass with ``ts`` (int64 array), ``ohlcv`` (n x 5 array),
    ``subscribers`` (name -> (subscriber, indicator specs)) and ``wants`` (name -> bars the
    subscriber's strategy needs)."""

    ts: Times
    ohlcv: Floats
    subscribers: dict[str, tuple[Any, frozenset[IndicatorSpec]]]
    wants: dict[str, int]

    def window(self) -> int:
        """Bars in the frame handed to readers: the most any subscriber needs."""
        return min(MAX_WINDOW, max([WINDOW, *self.wants.values()]))

    def push(self, c: Candle) -> None:
        self.ts = np.append(self.ts[-(MAX_WINDOW - 1) :], c.ts)
        row = np.array([[c.open, c.high, c.low, c.close, c.volume]])
        self.ohlcv = np.vstack((self.ohlcv[-(MAX_WINDOW - 1) :], row))

    def prepend(self, candles: list[Candle]) -> None:
        """Older candles (a backfill for a reader that needs more history), oldest first;
        those not older than the first kept candle are ignored."""
        first = int(self.ts[0]) if len(self.ts) else None
        older = [c for c in candles if first is None or c.ts < first]
        if not older:
            return
        ts = np.array([c.ts for c in older], dtype=np.int64)
        rows = np.array(
            [[c.open, c.high, c.low, c.close, c.volume] for c in older], dtype=float
        ).reshape(-1, 5)
        self.ts = np.concatenate((ts, self.ts))[-MAX_WINDOW:]
        self.ohlcv = np.vstack((rows, self.ohlcv))[-MAX_WINDOW:]

    def frame(self) -> pd.DataFrame:
        n = self.window()
        t, o = self.ts[-n:], self.ohlcv[-n:]
        return pd.DataFrame(
            {
                "ts": t,
                "open": o[:, 0],
                "high": o[:, 1],
                "low": o[:, 2],
                "close": o[:, 3],
                "volume": o[:, 4],
            }
        )

    def specs(self) -> set[IndicatorSpec]:
        """The union of the indicators the stream's subscribers read."""
        out: set[IndicatorSpec] = set()
        for _, s in self.subscribers.values():
            out |= s
        return out
