"""The built-in `sim` market: seeded synthetic candles, or replay of a CSV file.

Synthetic prices are a random walk of the log price whose drift and volatility switch between
regimes (calm, trending up, trending down, turbulent), with a slow pull back towards the symbol's
base price, generated in numpy chunks. Every rate is per unit of time, so a 1d bar moves like a
day of 1m bars and prices stay plausible (and > 0) at every timeframe over years of bars. The
same (seed, symbol, timeframe) always gives the same candles, so tests and snapshots are
deterministic.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..arrays import Floats, Ints, Times
from ..models import Candle, timeframe_seconds

if TYPE_CHECKING:
    import numpy as np
else:  # numpy on its first use (engine/lazy.py): RuntimeOptions' SimConfig computes nothing
    from oxbot.engine.lazy import numpy as np

BASE_PRICES = {
    "BTC": 60_000.0,
    "ETH": 3_000.0,
    "SOL": 150.0,
    "BNB": 550.0,
    "XRP": 0.6,
    "DOGE": 0.15,
    "ADA": 0.45,
}

# Everything below is per unit of TIME (one minute), never per bar, so every timeframe of a
# symbol tells one plausible story: a 1d bar moves like 1440 one-minute bars, not like one.
# Regimes: (drift of the log price per minute, volatility per sqrt(minute)): calm, trending
# up, trending down, turbulent. 0.0008-0.0022 per sqrt(minute) is 60-160 % a year, a lively
# crypto market; a trending regime moves the price ~6 % a day while it lasts (hours).
REGIMES = ((0.0, 0.0008), (0.00004, 0.0010), (-0.00004, 0.0011), (0.0, 0.0022))
REGIME_MINUTES = 240.0  # mean time between regime draws (exponential holding times)
# Mean reversion of the log price towards the symbol's base price, per minute: a half-life of
# some 80 days. Invisible within a day, it keeps years of daily bars within a band of the base
# price (stationary spread ~0.45 in log price) instead of drifting to 0 or to 1e17.
REVERSION = 6e-6
SUBSTEPS = 8  # simulated steps per bar: a bar's high and low come from its own path
MAX_DECIMALS = 10


def price_decimals(price: float) -> int:
    """Decimals that keep at least six significant digits (2 for prices of 10,000 and up)."""
    if not price > 0:
        return MAX_DECIMALS
    return int(min(MAX_DECIMALS, max(2, 5 - np.floor(np.log10(price)))))


@functools.cache
def _regime_table() -> Floats:
    """REGIMES as an array (rows indexed by regime), built on first use."""
    return np.array(REGIMES)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    start_ts: int | None = None  # first candle open time (ms); None = now, aligned
    speed: float | None = None  # None = max speed (lockstep), 1 = real time, N = N x real time
    max_candles: int | None = None  # stop each stream after this many live candles
    csv: dict[str, str] = field(default_factory=dict)  # symbol -> CSV file to replay
    # At max speed, rest this long after each step: the engine then leaves the interpreter
    # lock to a cockpit in the same process often enough for it to stay responsive.
    yield_s: float = 0.0


class SyntheticSeries:
    """Endless candles for one symbol and timeframe, starting at ``start_ts``.

    The log price follows regime-switching drift and volatility plus a slow pull towards the
    symbol's base price, simulated in ``SUBSTEPS`` steps per bar with every rate taken per
    minute (drift x dt, volatility x sqrt(dt), regime changes by elapsed time). Prices are
    exp() of a finite number: always > 0, and rounded to keep six significant digits."""

    CHUNK = 1024  # bars generated at a time

    def __init__(self, seed: int, symbol: str, timeframe: str, start_ts: int) -> None:
        key = zlib.crc32(f"{seed}:{symbol}:{timeframe}".encode())
        self._rng = np.random.default_rng(key)
        self.step_ms = timeframe_seconds(timeframe) * 1000
        self._dt = self.step_ms / 60_000 / SUBSTEPS  # minutes per simulated step
        self._switch = 1.0 - float(np.exp(-self._dt / REGIME_MINUTES))
        self._ts = start_ts
        self._base = float(np.log(BASE_PRICES.get(symbol.split("/")[0], 100.0)))
        self._log = self._base + float(np.log1p((key % 1000) / 10_000))
        self._regime = 0
        self._times = np.zeros(0, dtype=np.int64)  # the current chunk: open times, and
        self._rows: Floats = np.zeros((0, 5))  # open, high, low, close, volume
        self._i = 0  # the next candle of the chunk

    def _regimes(self, n: int) -> Ints:
        """The regime of each of ``n`` steps: held until a switch draws a new one."""
        rng = self._rng
        switches = rng.random(n) < self._switch
        drawn = rng.integers(0, len(REGIMES), n)
        last = np.where(switches, np.arange(n), -1)
        np.maximum.accumulate(last, out=last)
        regimes = np.where(last >= 0, drawn[np.maximum(last, 0)], self._regime)
        self._regime = int(regimes[-1])
        return regimes

    def _path(self, n: int) -> Floats:
        """``n`` steps of the log price after the current one."""
        rng, dt = self._rng, self._dt
        regimes = self._regimes(n)
        table = _regime_table()
        shocks = table[regimes, 0] * dt + table[regimes, 1] * np.sqrt(dt) * rng.standard_normal(n)
        # x[i+1] = x[i] + shock[i] - k x[i] with x the distance from the base price: a linear
        # recurrence, solved in closed form so the chunk stays vectorised.
        k = REVERSION * dt
        decay = (1.0 - k) ** np.arange(1, n + 1)
        x0 = self._log - self._base
        x = decay * (x0 + np.cumsum(shocks / decay))
        return self._base + x

    def _refill(self) -> None:
        n, steps = self.CHUNK, SUBSTEPS
        path = self._path(n * steps).reshape(n, steps)
        opens = np.concatenate(([self._log], path[:-1, -1]))
        closes = path[:, -1]
        highs = np.maximum(path.max(axis=1), opens)
        lows = np.minimum(path.min(axis=1), opens)
        ranges = highs - lows
        wick = np.abs(self._rng.standard_normal((2, n))) * 0.1 * ranges
        highs, lows = np.exp(highs + wick[0]), np.exp(lows - wick[1])
        opens, closes = np.exp(opens), np.exp(closes)
        volume = np.abs(self._rng.normal(50, 15, n)) * (1 + 10 * np.abs(np.log(closes / opens)))
        volume *= self.step_ms / 60_000
        ts = self._ts + np.arange(n, dtype=np.int64) * self.step_ms
        self._ts = int(ts[-1]) + self.step_ms
        self._log = float(path[-1, -1])
        rows = np.column_stack(
            (
                opens,
                np.maximum(highs, np.maximum(opens, closes)),
                np.minimum(lows, np.minimum(opens, closes)),
                closes,
            )
        )
        self._rows = np.column_stack((_rounded(rows), np.round(volume, 4)))
        self._times = ts
        self._i = 0

    def next(self) -> Candle | None:
        if self._i >= len(self._times):
            self._refill()
        i, r = self._i, self._rows[self._i]
        self._i += 1
        return Candle(
            int(self._times[i]), float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])
        )

    def take(self, n: int) -> tuple[Times, Floats]:
        """The next ``n`` candles as arrays (open times; open, high, low, close, volume rows):
        what ``next`` would give, without a Candle object each (a stream's warm-up)."""
        times, rows = [], []
        while n > 0:
            if self._i >= len(self._times):
                self._refill()
            k = min(n, len(self._times) - self._i)
            times.append(self._times[self._i : self._i + k])
            rows.append(self._rows[self._i : self._i + k])
            self._i += k
            n -= k
        return np.concatenate(times), np.concatenate(rows)

    @staticmethod
    def scaled_rows(rows: Floats, factor: float) -> Floats:
        """Candle rows (open, high, low, close, volume) with prices moved by ``factor``."""
        out = rows.copy()
        out[:, :4] = _rounded(rows[:, :4] * factor)
        return out

    def rescale(self, factor: float) -> None:
        """Move the path by ``factor`` (a restart continues at a stored price); later chunks
        drift back towards the base price at the usual slow pace."""
        self._log += float(np.log(factor))
        if self._i < len(self._times):
            self._rows = self.scaled_rows(self._rows, factor)


def _rounded(prices: Floats) -> Floats:
    """Prices (open, high, low, close columns) rounded to six significant digits of the
    lowest, never to 0."""
    dec = price_decimals(float(prices.min()))
    return np.maximum(np.round(prices, dec), 10.0**-dec)


class CsvSeries:
    """Replays a CSV file of `timestamp,open,high,low,close,volume` rows from ``start_ts`` on."""

    def __init__(self, path: str | Path, timeframe: str, start_ts: int | None) -> None:
        from .csvdata import load_csv  # noqa: PLC0415 - pandas only when replaying

        df = load_csv(path)
        self.step_ms = timeframe_seconds(timeframe) * 1000
        arr = df[["ts", "open", "high", "low", "close", "volume"]].to_numpy()
        self._ts = df["ts"].to_numpy()
        self._rows = arr
        self._i = 0 if start_ts is None else int(np.searchsorted(self._ts, start_ts))

    @property
    def first_ts(self) -> int:
        return int(self._ts[0])

    def next(self) -> Candle | None:
        if self._i >= len(self._rows):
            return None
        # one row as Python numbers at once (unpacking the numpy row made six numpy scalars)
        t, o, h, lo, c, v = self._rows[self._i].tolist()
        self._i += 1
        return Candle(int(t), float(o), float(h), float(lo), float(c), float(v))


def intra_candle_prices(c: Candle) -> tuple[float, float, float, float]:
    """The path a candle is assumed to take: open, the nearer extreme, the other, close."""
    if c.close >= c.open:
        return c.open, c.low, c.high, c.close
    return c.open, c.high, c.low, c.close
