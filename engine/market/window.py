"""The rolling candle window every market stream keeps (sim and exchange alike)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..models import Candle
from .indicators import IndicatorSpec

WINDOW = 300  # bars kept per stream and handed to strategies


class CandleWindow:
    """Mixin for a stream dataclass with ``ts`` (int64 array), ``ohlcv`` (n x 5 array) and
    ``subscribers`` (name -> (subscriber, indicator specs))."""

    ts: np.ndarray
    ohlcv: np.ndarray
    subscribers: dict[str, tuple[Any, frozenset[IndicatorSpec]]]

    def push(self, c: Candle) -> None:
        self.ts = np.append(self.ts[-(WINDOW - 1):], c.ts)
        row = np.array([[c.open, c.high, c.low, c.close, c.volume]])
        self.ohlcv = np.vstack((self.ohlcv[-(WINDOW - 1):], row))

    def frame(self) -> pd.DataFrame:
        o = self.ohlcv
        return pd.DataFrame({"ts": self.ts, "open": o[:, 0], "high": o[:, 1], "low": o[:, 2],
                             "close": o[:, 3], "volume": o[:, 4]})

    def specs(self) -> set[IndicatorSpec]:
        """The union of the indicators the stream's subscribers read."""
        out: set[IndicatorSpec] = set()
        for _, s in self.subscribers.values():
            out |= s
        return out
