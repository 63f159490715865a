"""Indicators through pandas-ta, declared as specs so a stream computes only what its readers need.

A spec names its output columns; the MarketHub computes the union of its subscribers' specs once
per candle close, and backtests compute the same specs once over the whole history.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    pass

# pandas-ta is imported lazily: it takes seconds to load and the CLI must stay fast.


class IndicatorLengthError(ValueError):
    """An indicator asked for with a length it cannot have (SMA(1), EMA(0), RSI(-5), 2.5)."""


# The least length of each indicator that has one: below it pandas-ta either fails or gives a
# degenerate column (an SMA/EMA of 1 is the close, RSI(1) is 0 or 100); macd, stoch and obv
# have fixed lengths (their spec's length is unused).
LENGTHS = {"sma": 2, "ema": 2, "rsi": 2, "atr": 2, "adx": 2, "bbands": 2}


def _numpy_integer(value: object) -> bool:
    """A numpy integer (a length from an array); one exists only once numpy is loaded, so the
    built-in strategies' specs are checked without loading it."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.integer)


@dataclass(frozen=True, slots=True, order=True)
class IndicatorSpec:
    name: str  # sma, ema, rsi, macd, bbands, atr, adx, stoch, obv
    length: int = 0

    def __post_init__(self) -> None:
        # pandas-ta crashes on a length of 1 (SMA) or silently replaces one below 1 by its
        # default (SMA(0) is SMA(10)): a length is refused here, where the strategy asks.
        if self.name in LENGTHS and (
            isinstance(self.length, bool)
            or not (isinstance(self.length, int) or _numpy_integer(self.length))
            or self.length < LENGTHS[self.name]
        ):
            raise IndicatorLengthError(
                f"{self.name.upper()}({self.length!r}): the length must be a whole number of "
                f"candles from {LENGTHS[self.name]} up, got {self.length!r}; check the "
                "parameter that sets it (give it a lower bound in Params, e.g. "
                f"Field(..., ge={LENGTHS[self.name]}))"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        n = self.length
        match self.name:
            case "sma" | "ema" | "rsi" | "atr" | "adx":
                return (f"{self.name}_{n}",)
            case "macd":
                return ("macd", "macd_signal", "macd_hist")
            case "bbands":
                return (f"bb_lower_{n}", f"bb_mid_{n}", f"bb_upper_{n}")
            case "stoch":
                return ("stoch_k", "stoch_d")
            case "obv":
                return ("obv",)
        raise ValueError(f"unknown indicator {self.name!r}")

    @property
    def warmup(self) -> int:
        return {"macd": 35, "stoch": 17, "obv": 1}.get(
            self.name, self.length * 2 if self.name in ("adx",) else self.length
        )


SMA = lambda n: IndicatorSpec("sma", n)  # noqa: E731
EMA = lambda n: IndicatorSpec("ema", n)  # noqa: E731
RSI = lambda n=14: IndicatorSpec("rsi", n)  # noqa: E731

# The full set an LLM reads (and the dashboard shows).
FULL_SET: tuple[IndicatorSpec, ...] = (
    IndicatorSpec("ema", 20),
    IndicatorSpec("ema", 50),
    IndicatorSpec("sma", 20),
    IndicatorSpec("rsi", 14),
    IndicatorSpec("macd", 0),
    IndicatorSpec("bbands", 20),
    IndicatorSpec("atr", 14),
    IndicatorSpec("adx", 14),
    IndicatorSpec("stoch", 0),
    IndicatorSpec("obv", 0),
)


def compute(frame: pd.DataFrame, specs: Iterable[IndicatorSpec]) -> pd.DataFrame:
    """Return ``frame`` with one column per spec output added (NaN during warm-up).

    ``frame`` has float columns open, high, low, close, volume. The input is not modified.
    """
    import pandas as pd  # noqa: PLC0415 - on first use, not on import
    import pandas_ta as ta  # noqa: PLC0415 - deliberate lazy import

    out = frame.copy()
    c, h, lo, v = out["close"], out["high"], out["low"], out["volume"]
    nan = float("nan")
    for spec in sorted(set(specs)):
        n = spec.length
        cols = spec.columns
        res: pd.Series | pd.DataFrame | None
        match spec.name:
            case "sma":
                res = ta.sma(c, n)
            case "ema":
                res = ta.ema(c, n)
            case "rsi":
                res = ta.rsi(c, n)
            case "atr":
                res = ta.atr(h, lo, c, n)
            case "adx":
                df = ta.adx(h, lo, c, n)
                res = None if df is None else df.iloc[:, 0]
            case "macd":
                df = ta.macd(c)
                res = None if df is None else df.iloc[:, [0, 2, 1]]  # macd, signal, hist
            case "bbands":
                df = ta.bbands(c, n)
                res = None if df is None else df.iloc[:, [0, 1, 2]]
            case "stoch":
                df = ta.stoch(h, lo, c)
                res = None if df is None else df.iloc[:, [0, 1]]
            case "obv":
                res = ta.obv(c, v)
            case _:
                raise ValueError(f"unknown indicator {spec.name!r}")
        if res is None:  # pandas-ta returns None when there are too few rows
            for col in cols:
                out[col] = nan
        elif isinstance(res, pd.DataFrame):
            for col, src in zip(cols, res.columns, strict=True):
                out[col] = res[src].to_numpy()
        else:
            out[cols[0]] = res.to_numpy()
    return out
