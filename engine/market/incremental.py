"""Indicators updated one candle at a time, in O(1), equal to pandas-ta 0.4.71b0 over the whole
series (indicators.compute) row for row, warm-up NaNs included.

Each class follows the pandas-ta function named in its docstring (pandas_ta/<file>, without
TA-Lib, which is not installed) step by step. Two whole-series effects of pandas-ta are not
reproduced, both far below 1e-9 of a price:

* ``utils/_core.py non_zero_range`` adds float epsilon (2.2e-16) to every high-low range (atr,
  adx) or stoch range once any range in the series is 0; here epsilon replaces a 0 range only.
* sums and variances are kept as running values, not re-summed per window (``overlap/sma.py
  nb_sma`` convolves; pandas rolling var is its own online update): rounding differs by a few
  ulps of the window's magnitude. A window that turns flat has variance exactly 0 here, while
  pandas' roll_var keeps a residue of a few ulps of the earlier (price range)^2, which the
  square root lifts to ~1e-8 of the price in the bands (tests compare them as variances).

pandas-ta returns None (compute() gives all-NaN columns) when the series is shorter than the
indicator's minimum (``utils/_validate.py v_series``); ``min_rows`` holds that minimum, and
``IncrementalSet(specs, short_as_nan=True)`` gives NaN before it, as compute() on the rows fed
so far would.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from .indicators import IndicatorSpec

NAN = math.nan
EPS = sys.float_info.epsilon


class Ewm:
    """pandas ``Series.ewm(alpha=a, adjust=False).mean()`` (pandas/_libs/window/aggregations.pyx
    ``ewm``, normalize=True, ignore_na=False, min_periods 0): NaN until the first observation,
    a NaN observation keeps the value but decays the old weight once more."""

    __slots__ = ("alpha", "factor", "old_wt", "value")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.factor = 1.0 - alpha
        self.old_wt = 1.0
        self.value = NAN

    def update(self, x: float) -> float:
        w = self.value
        if w != w:  # nothing observed yet
            self.value = x
            return x
        self.old_wt *= self.factor
        if x == x:
            if w != x:
                self.value = (self.old_wt * w + self.alpha * x) / (self.old_wt + self.alpha)
            self.old_wt = 1.0
        return self.value


class PresmaEma:
    """``overlap/ema.py ema`` with presma=True (its default): NaN for the first n-1 inputs, the
    mean of the first n at input n, then ewm(span=n, adjust=False). Inputs before the first
    non-NaN one are not counted (macd feeds its signal only from macd's first valid row)."""

    __slots__ = ("n", "seen", "total", "ewm")

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.total = 0.0
        self.ewm = Ewm(2.0 / (n + 1.0))

    def update(self, x: float) -> float:
        if self.seen >= self.n:
            return self.ewm.update(x)
        self.seen += 1
        self.total += x
        if self.seen < self.n:
            return NAN
        return self.ewm.update(self.total / self.n)


# A value leaving the window this many times farther from the mean than the mean's (and the
# newest value's) own size makes ``Rolling`` recompute its sums from the window.
REBASE = 1e4


class Rolling:
    """A running sum, mean and sample variance (ddof 1) of the last n values, updated by adding
    the new value and removing the one that left (Welford's update, as pandas ``roll_var``).
    A window of n equal values has variance exactly 0, as in pandas."""

    __slots__ = ("n", "window", "mean", "ssq", "same")

    def __init__(self, n: int) -> None:
        self.n = n
        self.window: deque[float] = deque()
        self.mean = 0.0
        self.ssq = 0.0
        self.same = 0  # how many of the newest values equal the newest

    def push(self, x: float) -> None:
        w = self.window
        self.same = self.same + 1 if w and w[-1] == x else 1
        w.append(x)
        k = len(w)
        delta = x - self.mean
        self.mean += delta / k
        self.ssq += delta * (x - self.mean)
        if k > self.n:
            old = w.popleft()
            k -= 1
            delta = old - self.mean
            self.mean -= delta / k
            self.ssq -= delta * (old - self.mean)
            if abs(delta) > REBASE * (abs(self.mean) + abs(x)):
                self._rebase()

    def _rebase(self) -> None:
        """Mean and sum of squares again from the window itself: a value orders of magnitude
        off the rest (a bad print) leaves behind a sum that lost every digit of the others
        (its variance read 0 or NaN for good). Normal data never gets here (``REBASE``), so
        the values stay the add/remove ones pandas computes."""
        w = self.window
        self.mean = math.fsum(w) / len(w)
        self.ssq = math.fsum((v - self.mean) ** 2 for v in w)

    @property
    def full(self) -> bool:
        return len(self.window) == self.n

    def sma(self) -> float:
        return self.mean if self.full else NAN

    def var(self) -> float:
        if not self.full:
            return NAN
        if self.n == 1 or self.same >= self.n:
            return 0.0
        return max(self.ssq / (self.n - 1), 0.0)


class Extreme:
    """``Series.rolling(n).min()`` or ``.max()``: a monotonic deque, amortised O(1)."""

    __slots__ = ("n", "sign", "i", "q")

    def __init__(self, n: int, largest: bool) -> None:
        self.n = n
        self.sign = 1.0 if largest else -1.0
        self.i = 0
        self.q: deque[tuple[int, float]] = deque()

    def update(self, x: float) -> float:
        q, s = self.q, self.sign
        while q and s * q[-1][1] <= s * x:
            q.pop()
        q.append((self.i, x))
        if q[0][0] <= self.i - self.n:
            q.popleft()
        self.i += 1
        return q[0][1] if self.i >= self.n else NAN


class Indicator(Protocol):
    min_rows: int

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]: ...


class Sma:
    """``overlap/sma.py sma``: mean of the last n closes, NaN for the first n-1."""

    def __init__(self, n: int) -> None:
        self.min_rows = n
        self.roll = Rolling(n)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        self.roll.push(c)
        return (self.roll.sma(),)


class Ema:
    """``overlap/ema.py ema`` (presma: seeded with the SMA of the first n closes)."""

    def __init__(self, n: int) -> None:
        self.min_rows = n
        self.ema = PresmaEma(n)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        return (self.ema.update(c),)


class Rsi:
    """``momentum/rsi.py rsi``: RMA (``overlap/rma.py``: ewm alpha 1/n, no SMA seed) of the
    gains and of the losses of close.diff(); valid from the second row, NaN while both
    averages are 0 (0/0)."""

    def __init__(self, n: int) -> None:
        self.min_rows = n + 1
        self.prev = NAN
        self.gain = Ewm(1.0 / n)
        self.loss = Ewm(1.0 / n)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        d, self.prev = c - self.prev, c
        if d != d:
            return (NAN,)
        g = self.gain.update(max(d, 0.0))
        ls = self.loss.update(min(d, 0.0))
        den = g + abs(ls)
        return (100.0 * g / den if den else NAN,)


class TrueRange:
    """``volatility/true_range.py true_range``: max(high-low, |high-prev close|, |prev close-
    low|); the first row is high-low, or NaN with prenan (as adx asks)."""

    def __init__(self, prenan: bool) -> None:
        self.prenan = prenan
        self.prev = NAN

    def update(self, h: float, lo: float, c: float) -> float:
        pc, self.prev = self.prev, c
        hl = h - lo or EPS  # non_zero_range
        if pc != pc:
            return NAN if self.prenan else hl
        return max(abs(hl), abs(h - pc), abs(pc - lo))


class AtrCore:
    """``volatility/atr.py atr`` (presma, mamode rma): NaN for rows 0..n-2, the mean of the
    non-NaN true ranges of rows 0..n-1 at row n-1, then RMA."""

    def __init__(self, n: int, prenan: bool) -> None:
        self.n = n
        self.tr = TrueRange(prenan)
        self.rows = 0
        self.total = 0.0
        self.count = 0
        self.rma = Ewm(1.0 / n)

    def update(self, h: float, lo: float, c: float) -> float:
        tr = self.tr.update(h, lo, c)
        self.rows += 1
        if self.rows < self.n:
            if tr == tr:
                self.total += tr
                self.count += 1
            return NAN
        if self.rows == self.n:
            if tr == tr:
                self.total += tr
                self.count += 1
            tr = self.total / self.count if self.count else NAN
        return self.rma.update(tr)


class Atr:
    def __init__(self, n: int) -> None:
        self.min_rows = n + 1
        self.atr = AtrCore(n, prenan=False)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        return (self.atr.update(h, lo, c),)


class Adx:
    """``trend/adx.py adx`` (tvmode False, mamode rma, signal_length n): +DM/-DM (rows 0 NaN,
    ``utils/_math.py zero`` below epsilon) smoothed by RMA and scaled by 100/ATR(prenan),
    DX = 100|+DI - -DI|/(+DI + -DI) (NaN when both are 0), ADX = RMA(DX)."""

    def __init__(self, n: int) -> None:
        self.min_rows = n + 1  # atr inside needs n+1 rows
        self.atr = AtrCore(n, prenan=True)
        self.ph = NAN
        self.pl = NAN
        self.pos = Ewm(1.0 / n)
        self.neg = Ewm(1.0 / n)
        self.adx = Ewm(1.0 / n)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        atr = self.atr.update(h, lo, c)
        up, dn = h - self.ph, self.pl - lo
        self.ph, self.pl = h, lo
        if up != up:
            return (NAN,)
        pos = up if up > dn and up > 0 else 0.0
        neg = dn if dn > up and dn > 0 else 0.0
        pos = 0.0 if abs(pos) < EPS else pos
        neg = 0.0 if abs(neg) < EPS else neg
        k = 100.0 / atr
        dmp = k * self.pos.update(pos)
        dmn = k * self.neg.update(neg)
        den = dmp + dmn
        dx = 100.0 * abs(dmp - dmn) / den if den else NAN
        return (self.adx.update(dx),)


class Macd:
    """``momentum/macd.py macd`` (12, 26, 9): EMA12 - EMA26 (both presma), signal = EMA9 of
    macd from its first valid row (presma again), hist = macd - signal."""

    def __init__(self) -> None:
        self.min_rows = 26 + 9 - 1
        self.fast = PresmaEma(12)
        self.slow = PresmaEma(26)
        self.signal = PresmaEma(9)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        m = self.fast.update(c) - self.slow.update(c)
        if m != m:
            return (NAN, NAN, NAN)
        s = self.signal.update(m)
        return (m, s, m - s)


class Bbands:
    """``volatility/bbands.py bbands`` (std 2, mamode sma, ddof 1 as ``statistics/stdev.py``
    -> ``variance.py`` rolling var): mid = SMA n, bands = mid -/+ 2 stdev."""

    def __init__(self, n: int) -> None:
        self.min_rows = n
        self.roll = Rolling(n)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        self.roll.push(c)
        mid = self.roll.sma()
        dev = 2.0 * math.sqrt(self.roll.var()) if mid == mid else NAN
        return (mid - dev, mid, mid + dev)


class Stoch:
    """``momentum/stoch.py stoch`` (k 14, d 3, smooth_k 3, mamode sma): raw = 100(close - LL14)
    / (HH14 - LL14) from row 13, %K = SMA3(raw) from row 15, %D = SMA3(%K) from row 17."""

    def __init__(self) -> None:
        self.min_rows = 14 + 3 + 3
        self.ll = Extreme(14, largest=False)
        self.hh = Extreme(14, largest=True)
        self.k = Rolling(3)
        self.d = Rolling(3)

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        ll, hh = self.ll.update(lo), self.hh.update(h)
        if ll != ll:
            return (NAN, NAN)
        raw = 100.0 * (c - ll) / (hh - ll or EPS)
        self.k.push(raw)
        k = self.k.sma()
        if k != k:
            return (NAN, NAN)
        self.d.push(k)
        return (k, self.d.sma())


class Obv:
    """``volume/obv.py obv``: cumsum of sign(close.diff()) * volume; ``utils/_core.py
    signed_series`` sets the first sign to None, so row 0 is NaN and the sum starts at row 1."""

    def __init__(self) -> None:
        self.min_rows = 1
        self.prev = NAN
        self.total = 0.0

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> tuple[float, ...]:
        d, self.prev = c - self.prev, c
        if d != d:
            return (NAN,)
        self.total += (1.0 if d > 0 else -1.0 if d < 0 else 0.0) * v
        return (self.total,)


def make(spec: IndicatorSpec) -> Indicator:
    n = spec.length
    match spec.name:
        case "sma":
            return Sma(n)
        case "ema":
            return Ema(n)
        case "rsi":
            return Rsi(n)
        case "atr":
            return Atr(n)
        case "adx":
            return Adx(n)
        case "macd":
            return Macd()
        case "bbands":
            return Bbands(n)
        case "stoch":
            return Stoch()
        case "obv":
            return Obv()
    raise ValueError(f"unknown indicator {spec.name!r}")


class IncrementalSet:
    """Every spec's indicator over one stream: ``update`` takes the next candle and returns
    its row, column -> value (``IndicatorSpec.columns``)."""

    def __init__(self, specs: Iterable[IndicatorSpec], short_as_nan: bool = False) -> None:
        self.specs = tuple(sorted(set(specs)))
        self.indicators = [(s.columns, make(s)) for s in self.specs]
        self.short_as_nan = short_as_nan
        self.rows = 0

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> dict[str, float]:
        self.rows += 1
        row: dict[str, float] = {}
        for cols, ind in self.indicators:
            values = ind.update(o, h, lo, c, v)
            if self.short_as_nan and self.rows < ind.min_rows:
                values = (NAN,) * len(cols)
            row.update(zip(cols, values, strict=True))
        return row
