"""Market facts per symbol, read from the indicator frames: what the prompt shows and what the
offline provider reasons from. Pure functions over pandas; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..market.indicators import IndicatorSpec, compute
from ..models import TIMEFRAMES, timeframe_seconds

if TYPE_CHECKING:  # pandas where a frame is first read, not on import
    import pandas as pd

# One step up: what a trader would glance at next to the bot's own chart.
HIGHER_TF = {
    "1m": "15m",
    "3m": "15m",
    "5m": "1h",
    "15m": "1h",
    "30m": "4h",
    "1h": "4h",
    "2h": "1d",
    "4h": "1d",
    "6h": "1d",
    "12h": "1d",
    "1d": "1d",
}
HTF_SPECS = (
    IndicatorSpec("ema", 20),
    IndicatorSpec("ema", 50),
    IndicatorSpec("rsi", 14),
    IndicatorSpec("macd", 0),
    IndicatorSpec("atr", 14),
    IndicatorSpec("bbands", 20),
)
_IND_COLS = (
    "ema_20",
    "ema_50",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "atr_14",
    "bb_lower_20",
    "bb_mid_20",
    "bb_upper_20",
    "adx_14",
    "sma_20",
    "stoch_k",
    "stoch_d",
    "obv",
)


@dataclass
class TfFacts:
    """Indicator values on one timeframe (None = not enough history yet)."""

    timeframe: str
    values: dict[str, float | None] = field(default_factory=dict)
    vol_ratio: float | None = None  # last volume / 20-bar average

    def get(self, key: str) -> float | None:
        return self.values.get(key)

    @property
    def trend(self) -> str:
        f, s = self.get("ema_20"), self.get("ema_50")
        if f is None or s is None:
            return "n/a"
        return "up" if f > s else "down" if f < s else "flat"

    @property
    def bb_pos(self) -> float | None:
        """Where the close sits in the Bollinger band: 0 = lower, 1 = upper."""
        lo, hi, c = self.get("bb_lower_20"), self.get("bb_upper_20"), self.get("close")
        if lo is None or hi is None or c is None or hi <= lo:
            return None
        return (c - lo) / (hi - lo)


@dataclass
class SymbolFacts:
    symbol: str
    price: float | None
    closes: list[float]
    change_pct: float | None
    low: float | None
    high: float | None
    tfs: list[TfFacts]


def num(x: float | None, sig: int = 5) -> str:
    """A number rounded to ``sig`` significant digits, without exponent; 'n/a' if missing."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    digits = sig - 1 - math.floor(math.log10(abs(x)))
    if digits <= 0:
        return str(int(round(x)))
    return f"{x:.{min(digits, 10)}f}".rstrip("0").rstrip(".")


def _val(frame: pd.DataFrame, col: str) -> float | None:
    if col not in frame.columns or frame.empty:
        return None
    v = frame[col].iloc[-1]
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def tf_facts(frame: pd.DataFrame, timeframe: str) -> TfFacts:
    values: dict[str, float | None] = {c: _val(frame, c) for c in (*_IND_COLS, "close")}
    vol_ratio = None
    if "volume" in frame.columns and len(frame) >= 2:
        vol = frame["volume"].astype(float)
        avg = float(vol.iloc[-21:-1].mean())
        last = float(vol.iloc[-1])
        if math.isfinite(avg) and avg > 0 and math.isfinite(last):
            vol_ratio = last / avg
    return TfFacts(timeframe, values, vol_ratio)


def _timestamps_ms(frame: pd.DataFrame) -> pd.Series | None:
    import pandas as pd  # noqa: PLC0415

    if "ts" in frame.columns:
        return frame["ts"].astype("int64")
    idx = frame.index
    if isinstance(idx, pd.DatetimeIndex):
        return pd.Series(idx.asi8 // 1_000_000, index=idx)  # ns -> ms
    if pd.api.types.is_integer_dtype(idx) and len(idx) and int(idx[0]) > 10**11:
        return pd.Series(idx.to_numpy(), index=idx)
    return None


def resample(frame: pd.DataFrame, timeframe: str, higher: str) -> pd.DataFrame:
    """OHLCV of ``frame`` regrouped into ``higher`` bars (by timestamps, else by bar count)."""
    import pandas as pd  # noqa: PLC0415

    step = timeframe_seconds(higher) // timeframe_seconds(timeframe)
    ts = _timestamps_ms(frame)
    if ts is not None:
        key = ts.to_numpy() // (timeframe_seconds(higher) * 1000)
    else:  # no timestamps: count bars back from the newest so the last group is complete
        n = len(frame)
        key = [(n - 1 - i) // step for i in range(n)]
        key = [-k for k in key]
    g = frame[["open", "high", "low", "close", "volume"]].astype(float).groupby(key, sort=True)
    return pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(),
        }
    ).reset_index(drop=True)


def symbol_facts(
    symbol: str,
    frame: pd.DataFrame | None,
    timeframe: str,
    htf_frame: pd.DataFrame | None,
    n_closes: int = 12,
) -> SymbolFacts:
    """Everything the prompt says about one symbol."""
    if frame is None or frame.empty or "close" not in frame.columns:
        return SymbolFacts(symbol, None, [], None, None, None, [])
    closes = [float(c) for c in frame["close"].iloc[-n_closes:]]
    window = frame.iloc[-max(n_closes, 24) :]
    first, last = float(window["close"].iloc[0]), float(window["close"].iloc[-1])
    change = (last / first - 1) * 100 if first else None
    tfs = [tf_facts(frame, timeframe)]
    higher = HIGHER_TF.get(timeframe, timeframe)
    if higher != timeframe and timeframe in TIMEFRAMES:
        if htf_frame is None:
            htf_frame = compute(resample(frame, timeframe, higher), HTF_SPECS)
        tfs.append(tf_facts(htf_frame, higher))
    return SymbolFacts(
        symbol, last, closes, change, float(window["low"].min()), float(window["high"].max()), tfs
    )


def facts_to_dict(f: SymbolFacts) -> dict[str, Any]:
    """A JSON-able summary (for meta and the offline provider's tests)."""
    return {
        "symbol": f.symbol,
        "price": f.price,
        "change_pct": f.change_pct,
        "tfs": {t.timeframe: {**t.values, "vol_ratio": t.vol_ratio} for t in f.tfs},
    }
