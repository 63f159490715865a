"""The rolling candle window every market stream keeps (sim and exchange alike), with its
indicators updated one candle at a time.

A stream keeps up to ``MAX_WINDOW`` closed candles and hands its readers a frame of the last
``window()`` of them: ``WINDOW`` bars, or more when a subscribed strategy needs more bars
before its first signal (its warm-up, e.g. ``sma_cross`` with ``slow=2000`` needs 2001). So a
bot that backtests with a long warm-up also trades live. A strategy that would need more than
``MAX_WINDOW`` is refused when the bot is added or edited (``check_warmup``).

Indicators (``incremental.py``, equal to pandas-ta over the whole series) are updated in O(1) per
candle and kept in arrays beside the candles; readers get a ``MarketView`` (view.py) of the last
``window()`` rows, whose pandas frame is built only when someone asks for it.

Seeding: an indicator's state starts at the stream's first candle, the history loaded when the
stream opened (and any backfill of older candles) included, so a live replay of a CSV gives the
values a backtest computes over the same CSV (pandas-ta over the whole history). An indicator a
reader adds later (a bot subscribing mid-stream with a new spec) is seeded by replaying the
candles the stream keeps (up to ``MAX_WINDOW``) through it; a backfill replays every indicator
over the new, longer history. Recursive indicators (ema, rsi, atr, adx, macd) can therefore
differ in far decimals from pandas-ta over only the last ``window()`` rows, which is what the
hub computed before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..arrays import Floats, Times
from ..errors import ConfigError
from ..models import Candle
from .incremental import Indicator, make
from .indicators import IndicatorSpec
from .view import OHLCV, MarketView

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np

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


class _Feed:
    """One indicator of a stream: where its columns sit and how many rows it was fed."""

    __slots__ = ("cols", "ind", "rows")

    def __init__(self, spec: IndicatorSpec) -> None:
        self.cols = spec.columns
        self.ind: Indicator = make(spec)
        self.rows = 0

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        """The row's values; NaN while fewer rows than pandas-ta's minimum were fed (as
        ``compute`` over the rows so far gives)."""
        values = self.ind.update(o, h, lo, c, v)
        self.rows += 1
        if self.rows < self.ind.min_rows:
            return (math.nan,) * len(self.cols)
        return values


class _Store:
    """Candles and indicator values in arrays of ``2 * MAX_WINDOW`` rows: a new candle is
    written after the live rows (O(1)); when the arrays are full the newest ``MAX_WINDOW``
    rows move to fresh arrays (so views made earlier keep their values)."""

    CAP = 2 * MAX_WINDOW

    def __init__(self, ts: Times, ohlcv: Floats, specs: Iterable[IndicatorSpec] = ()) -> None:
        ts, ohlcv = ts[-MAX_WINDOW:], ohlcv[-MAX_WINDOW:]
        n = len(ts)
        self.specs: set[IndicatorSpec] = set()
        self.feeds: list[_Feed] = []
        self.cols: dict[str, int] = {c: i for i, c in enumerate(OHLCV)}
        self.order: tuple[str, ...] = OHLCV
        self.ts: Times = np.zeros(self.CAP, dtype=np.int64)
        self.m: Floats = np.full((self.CAP, len(OHLCV)), math.nan)
        self.ts[:n] = ts
        self.m[:n, :5] = ohlcv
        self.start, self.end = 0, n
        self.seq = n  # candles ever written, backfill included
        self.add(specs)

    def rows(self) -> tuple[Times, Floats]:
        """The live candles: (ts, ohlcv) views."""
        return self.ts[self.start : self.end], self.m[self.start : self.end, :5]

    def add(self, specs: Iterable[IndicatorSpec]) -> None:
        """Start computing ``specs`` not computed yet, seeded from the rows kept."""
        new = sorted(set(specs) - self.specs)
        if not new:
            return
        feeds = [_Feed(s) for s in new]
        width = self.m.shape[1] + sum(len(f.cols) for f in feeds)
        m: Floats = np.full((self.CAP, width), math.nan)
        m[:, : self.m.shape[1]] = self.m
        cols = dict(self.cols)
        for f in feeds:
            for c in f.cols:
                cols[c] = len(cols)
        live = self.m[self.start : self.end, :5].tolist()
        for f in feeds:
            idx = [cols[c] for c in f.cols]
            values = [f.update(*row) for row in live]
            if values:
                m[self.start : self.end, idx] = values
        self.m, self.cols = m, cols  # fresh arrays: earlier views keep theirs
        self.specs |= set(new)
        self.feeds.extend(feeds)
        self.feeds.sort(key=lambda f: self.cols[f.cols[0]])
        ordered = sorted(self.specs)
        self.order = OHLCV + tuple(c for s in ordered for c in s.columns)

    def push(self, c: Candle) -> None:
        if self.end == self.CAP:
            keep = MAX_WINDOW - 1
            ts: Times = np.zeros(self.CAP, dtype=np.int64)
            m: Floats = np.full(self.m.shape, math.nan)
            ts[:keep] = self.ts[self.end - keep : self.end]
            m[:keep] = self.m[self.end - keep : self.end]
            self.ts, self.m = ts, m
            self.start, self.end = 0, keep
        o, h, lo, cl, v = (
            float(c.open),
            float(c.high),
            float(c.low),
            float(c.close),
            float(c.volume),
        )
        row = [o, h, lo, cl, v]
        for f in self.feeds:
            row.extend(f.update(o, h, lo, cl, v))
        e = self.end
        self.ts[e] = c.ts
        self.m[e] = row
        self.end = e + 1
        self.seq += 1
        if self.end - self.start > MAX_WINDOW:
            self.start = self.end - MAX_WINDOW

    def view(self, key: Any, n: int) -> MarketView:
        return MarketView(
            key,
            self.ts,
            self.m,
            self.cols,
            self.order,
            max(self.start, self.end - n),
            self.end,
            self.seq,
        )


class CandleWindow:
    """Mixin for a stream dataclass with ``ts`` (int64 array), ``ohlcv`` (n x 5 array),
    ``subscribers`` (name -> (subscriber, indicator specs)) and ``wants`` (name -> bars the
    subscriber's strategy needs). ``ts`` and ``ohlcv`` stay plain arrays to read (views of the
    stream's store); the store is (re)built from them when they were assigned from outside."""

    ts: Times
    ohlcv: Floats
    subscribers: dict[str, tuple[Any, frozenset[IndicatorSpec]]]
    wants: dict[str, int]

    def _store(self) -> _Store:
        st: _Store | None = self.__dict__.get("_st")
        d = self.__dict__
        if st is None or d.get("_tsv") is not self.ts or d.get("_oh") is not self.ohlcv:
            st = _Store(self.ts, self.ohlcv, () if st is None else st.specs)
            self._st = st
            self._expose(st)
        return st

    def _expose(self, st: _Store) -> None:
        ts, ohlcv = st.rows()
        self.ts, self.ohlcv = ts, ohlcv
        self._oh = ohlcv
        self._tsv = ts

    def window(self) -> int:
        """Bars in the frame handed to readers: the most any subscriber needs."""
        return min(MAX_WINDOW, max([WINDOW, *self.wants.values()]))

    def push(self, c: Candle) -> None:
        st = self._store()
        st.push(c)
        self._expose(st)

    def prepend(self, candles: list[Candle]) -> None:
        """Older candles (a backfill for a reader that needs more history), oldest first;
        those not older than the first kept candle are ignored. Every indicator is computed
        again from the new first candle (whole-stream seeding)."""
        first = int(self.ts[0]) if len(self.ts) else None
        older = [c for c in candles if first is None or c.ts < first]
        if not older:
            return
        specs = self._store().specs
        ts = np.array([c.ts for c in older], dtype=np.int64)
        rows = np.array(
            [[c.open, c.high, c.low, c.close, c.volume] for c in older], dtype=float
        ).reshape(-1, 5)
        st = _Store(np.concatenate((ts, self.ts)), np.vstack((rows, self.ohlcv)), specs)
        self._st = st
        self._expose(st)

    def frame(self) -> pd.DataFrame:
        """The last ``window()`` candles as a frame, without indicator columns."""
        n = self.window()
        t, o = self.ts[-n:], self.ohlcv[-n:]
        import pandas as pd  # noqa: PLC0415 - on first use, not on import

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

    def sync_specs(self) -> None:
        """Start computing the indicators a new subscriber reads (seeded from the window)."""
        sig: Sequence[frozenset[IndicatorSpec]] = tuple(s for _, s in self.subscribers.values())
        if self.__dict__.get("_sig") == sig:
            return
        self._sig = sig
        st = self._store()
        st.add(self.specs())

    def view(self, key: Any = None) -> MarketView:
        """The last ``window()`` rows with every subscriber's indicators, as a ``MarketView``."""
        self.sync_specs()
        return self._store().view(key, self.window())
