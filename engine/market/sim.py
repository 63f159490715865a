"""The built-in `sim` market: seeded synthetic candles, or replay of a CSV file.

Synthetic prices are a random walk whose drift and volatility switch between regimes (calm,
trending up, trending down, turbulent), generated in numpy chunks. The same (seed, symbol,
timeframe) always gives the same candles, so tests and snapshots are deterministic.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models import Candle, timeframe_seconds

BASE_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "BNB": 550.0, "XRP": 0.6,
               "DOGE": 0.15, "ADA": 0.45}

# (drift per bar, volatility per bar) for a 1m bar; scaled by sqrt(bars) for longer timeframes.
REGIMES = np.array([[0.00000, 0.0008], [0.00012, 0.0010], [-0.00012, 0.0011], [0.0, 0.0022]])
STAY = 0.995  # probability a regime persists from one bar to the next


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
    """Endless candles for one symbol and timeframe, starting at ``start_ts``."""

    CHUNK = 4096

    def __init__(self, seed: int, symbol: str, timeframe: str, start_ts: int) -> None:
        key = zlib.crc32(f"{seed}:{symbol}:{timeframe}".encode())
        self._rng = np.random.default_rng(key)
        self.step_ms = timeframe_seconds(timeframe) * 1000
        self._scale = (self.step_ms / 60_000) ** 0.5
        self._ts = start_ts
        self._price = BASE_PRICES.get(symbol.split("/")[0], 100.0) * float(
            1 + (key % 1000) / 10_000
        )
        self._regime = 0
        self._buf: list[Candle] = []

    def _refill(self) -> None:
        n = self.CHUNK
        rng = self._rng
        switches = rng.random(n) > STAY
        choices = rng.integers(0, len(REGIMES), n)
        regimes = np.empty(n, dtype=np.int64)
        r = self._regime
        for i in range(n):  # regime path: cheap scalar loop over a small chunk
            if switches[i]:
                r = int(choices[i])
            regimes[i] = r
        self._regime = r
        drift = REGIMES[regimes, 0] * self._scale**2
        vol = REGIMES[regimes, 1] * self._scale
        rets = drift + vol * rng.standard_normal(n)
        closes = self._price * np.exp(np.cumsum(rets))
        opens = np.concatenate(([self._price], closes[:-1]))
        wick = np.abs(rng.standard_normal((2, n))) * vol * 0.6
        highs = np.maximum(opens, closes) * (1 + wick[0])
        lows = np.minimum(opens, closes) * (1 - wick[1])
        volume = np.abs(rng.normal(50, 15, n)) * (1 + 10 * np.abs(rets))
        ts = self._ts + np.arange(n, dtype=np.int64) * self.step_ms
        self._ts = int(ts[-1]) + self.step_ms
        self._price = float(closes[-1])
        dec = 8 if self._price < 1 else 2
        self._buf = [
            Candle(int(t), round(float(o), dec), round(float(max(h, o, c)), dec),
                   round(float(min(lo, o, c)), dec), round(float(c), dec), round(float(v), 4))
            for t, o, h, lo, c, v in zip(ts, opens, highs, lows, closes, volume, strict=True)
        ]
        self._buf.reverse()

    def next(self) -> Candle | None:
        if not self._buf:
            self._refill()
        return self._buf.pop()

    def scaled(self, c: Candle, factor: float) -> Candle:
        dec = 8 if c.close * factor < 1 else 2
        return Candle(c.ts, round(c.open * factor, dec), round(c.high * factor, dec),
                      round(c.low * factor, dec), round(c.close * factor, dec), c.volume)

    def rescale(self, factor: float) -> None:
        """Move the whole path by ``factor`` (a restart continues at a stored price)."""
        self._price *= factor
        self._buf = [self.scaled(c, factor) for c in self._buf]


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
        t, o, h, lo, c, v = self._rows[self._i]
        self._i += 1
        return Candle(int(t), float(o), float(h), float(lo), float(c), float(v))


def intra_candle_prices(c: Candle) -> tuple[float, float, float, float]:
    """The path a candle is assumed to take: open, the nearer extreme, the other, close."""
    if c.close >= c.open:
        return c.open, c.low, c.high, c.close
    return c.open, c.high, c.low, c.close
