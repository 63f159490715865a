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


def _htf_bars(frame: pd.DataFrame, timeframe: str, higher: str) -> dict[str, Any] | None:
    """``resample``'s bars as arrays (volume as the Series pandas' groupby sums), without
    pandas' groupby for the prices: the bars are runs of one key, so first, last, max and
    min are read off the runs (exact: selections, no arithmetic). The volume is still summed
    by pandas' groupby (its compensated sum, not numpy's). None when the frame has a missing
    price or its rows are not in time order: ``resample`` itself then."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    step = timeframe_seconds(higher) // timeframe_seconds(timeframe)
    n = len(frame)
    ts = _timestamps_ms(frame)
    if ts is not None:
        key = ts.to_numpy() // (timeframe_seconds(higher) * 1000)
    else:  # as resample: bars counted back from the newest
        key = -((n - 1 - np.arange(n)) // step)
    o, h, lo, c, v = (
        frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    if n == 0 or (np.diff(key) < 0).any() or any(np.isnan(a).any() for a in (o, h, lo, c, v)):
        return None
    starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
    ends = np.concatenate((starts[1:], [n]))
    volume = pd.Series(v).groupby(key, sort=True).sum().reset_index(drop=True)
    return {
        "open": o[starts],
        "high": np.maximum.reduceat(h, starts),
        "low": np.minimum.reduceat(lo, starts),
        "close": c[ends - 1],
        "volume": volume,
    }


def _bbands_ta(c: Any, n: int) -> tuple[Any, Any, Any]:
    """pandas-ta's ``bbands`` (std 2, ddof 1, mamode sma, no TA-Lib) step by step with its
    own SMA (``nb_sma``, numba's convolve: numpy's differs in the last bit, kernels.sma) and
    its variance (``Series.rolling(n, min_periods=n).var(1)``, then sqrt): lower, mid, upper."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    from pandas_ta.overlap.sma import nb_sma  # noqa: PLC0415

    std = np.sqrt(pd.Series(c).rolling(n, min_periods=n).var(1).to_numpy())
    mid = nb_sma(c, n)
    return mid - 2.0 * std, mid, mid + 2.0 * std


def htf_facts(frame: pd.DataFrame, timeframe: str, higher: str) -> TfFacts:
    """``tf_facts(compute(resample(frame, timeframe, higher), HTF_SPECS), higher)``, the same
    values bit for bit, at about a quarter of its cost (it was most of an LLM backtest's
    time: one call per symbol at every decision point, each a pandas-ta pass over the whole
    window). Only the last bar's values are read, so no frame is built: the bars as arrays
    (``_htf_bars``), the EMA, RSI, MACD and ATR from the whole-array kernels
    (market/kernels.py: pandas-ta's steps with pandas' own ewm, bit-identical to pandas-ta),
    the Bollinger bands with pandas-ta's own SMA (``_bbands_ta``). The window cannot be
    computed once per backtest and sliced: the HTF bars and the recursive indicators start
    where the window starts, so every value depends on it.
    tests/llm/test_llm_facts_fast.py builds prompts both ways on real candles."""
    import numpy as np  # noqa: PLC0415

    from ..market import kernels  # noqa: PLC0415

    bars = _htf_bars(frame, timeframe, higher)
    if bars is None:
        return tf_facts(compute(resample(frame, timeframe, higher), HTF_SPECS), higher)
    volume = bars["volume"]
    arrays = (bars["open"], bars["high"], bars["low"], bars["close"], volume.to_numpy(np.float64))
    cols: dict[str, Any] = {"close": bars["close"]}
    for spec in HTF_SPECS:
        res: tuple[Any, ...] | None
        if len(arrays[3]) < kernels.min_rows(spec):
            res = None  # pandas-ta's None: too few rows
        elif spec.name == "bbands":
            res = _bbands_ta(arrays[3], spec.length)
        else:
            res = kernels.columns(spec, *arrays)
        for i, col in enumerate(spec.columns):
            cols[col] = None if res is None else res[i]
    values: dict[str, float | None] = {}
    for col in (*_IND_COLS, "close"):
        a = cols.get(col)
        f = None if a is None or not len(a) else float(a[-1])
        values[col] = f if f is not None and math.isfinite(f) else None
    vol_ratio = None
    if len(volume) >= 2:  # as tf_facts
        avg = float(volume.iloc[-21:-1].mean())
        last = float(volume.iloc[-1])
        if math.isfinite(avg) and avg > 0 and math.isfinite(last):
            vol_ratio = last / avg
    return TfFacts(higher, values, vol_ratio)


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
            tfs.append(htf_facts(frame, timeframe, higher))
        else:
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
