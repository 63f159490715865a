"""Whole-array indicator kernels equal to ``indicators.compute`` (pandas-ta 0.4.71b0, no TA-Lib)
without importing pandas-ta, which loads numba and compiles its SMA on first use (about 1 s of
a backtest command's start-up).

Each kernel follows the pandas-ta function named in its docstring (pandas_ta/<file>, read in
the venv) step by step on numpy arrays. The steps pandas-ta itself hands to pandas run on the
same pandas routines here: ``Series.rolling(n).var`` (pandas imported there, on first use), so
it matches by construction. ``Series.ewm(..., adjust=False).mean()`` is that sequential
recurrence (pandas/_libs/window/aggregations.pyx ``ewm``) step for step in Python floats (the
same IEEE operations in the same order: bit-identical, tested against pandas itself), so a
backtest of the built-ins needs no pandas (pandas' compiled ewm runs when pandas is loaded
anyway); rolling min/max are numpy's over sliding windows
(exact). Everything else (SMA by convolution as ``overlap/sma.py nb_sma``, true range,
directional movement, RSI's ratio, OBV's signed sum) is plain numpy.

``compute_fast(frame, specs)`` returns what ``compute`` returns; a spec no kernel covers (an
unknown name, a length below 2, which pandas-ta replaces by its default) and any frame with a
NaN in its prices go to ``compute`` itself, so pandas-ta stays the definition.
tests/engine/test_engine_kernels.py checks every kernel against pandas-ta.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import Floats
from .indicators import IndicatorSpec

if TYPE_CHECKING:
    pass

EPS = sys.float_info.epsilon
NAN = float("nan")
EWM_PORT_MAX = 250_000  # values: a longer series runs pandas' compiled ewm (same bits)

type Columns = tuple[Floats, ...]


def _ewm(x: Floats, *, span: float | None = None, alpha: float | None = None) -> Floats:
    """``Series(x).ewm(span=|alpha=, adjust=False).mean()``, pandas-ta's ``rma`` and ``ema``
    core: pandas' own (compiled, ~40x faster than the port) when pandas is loaded anyway (a
    sweep, a bot backtest, the live engine), else `_ewm_py`; the two are bit-identical."""
    pd: Any = sys.modules.get("pandas")
    if pd is None and len(x) > EWM_PORT_MAX:  # the port costs ~0.4 us a value: past this,
        pd = importlib.import_module("pandas")  # importing pandas (~0.45 s) is cheaper
    # a module still being imported (on another thread: an engine thread beside a worker) is
    # in sys.modules before it has pd.Series: the port then, as without pandas
    if pd is None or getattr(getattr(pd, "__spec__", None), "_initializing", False):
        return _ewm_py(x, span=span, alpha=alpha)
    kw = {"span": span} if span is not None else {"alpha": alpha}
    return np.asarray(pd.Series(x, copy=False).ewm(adjust=False, **kw).mean(), np.float64)


def _ewm_py(x: Floats, *, span: float | None = None, alpha: float | None = None) -> Floats:
    """pandas' recurrence (``aggregations.pyx ewm`` with adjust False, ignore_na False,
    min_periods 0, no times) in the same float operations, so the result is bit-identical
    (tests/backtest/test_columnar.py): what a backtest without pandas uses.

    Shown on x86_64, where pandas' compiled ``old_wt * weighted + new_wt * cur`` is a multiply
    then an add, as here. A build whose C compiler fuses them into one FMA (GCC's default
    ``-ffp-contract=fast`` on aarch64) rounds once instead of twice, so there the two paths
    may differ in the last bit; the comparison test would say so on such a machine."""
    # pandas/core/window/ewm.py get_center_of_mass, then the kernel's alpha from it
    com = (span - 1) / 2 if span is not None else (1 - alpha) / alpha  # type: ignore[operator]
    old_wt_factor = 1.0 - 1.0 / (1.0 + com)
    new_wt = 1.0 / (1.0 + com)
    vals: list[float] = x.tolist()
    out = [NAN] * len(vals)
    if not vals:
        return np.asarray(out, np.float64)
    weighted = vals[0]
    nobs = weighted == weighted
    out[0] = weighted if nobs else NAN
    old_wt = 1.0
    for i in range(1, len(vals)):
        cur = vals[i]
        seen = cur == cur
        nobs = nobs or seen
        if weighted == weighted:
            old_wt *= old_wt_factor
            if seen:
                if weighted != cur:
                    weighted = old_wt * weighted + new_wt * cur
                    weighted /= old_wt + new_wt
                old_wt = 1.0
        elif seen:
            weighted = cur
        out[i] = weighted if nobs else NAN
    return np.asarray(out, np.float64)


def _rolling(x: Floats, n: int, how: Any) -> Floats:
    """``Series(x).rolling(n).min()/.max()`` (n-1 NaNs first) for NaN-free ``x`` (compute_fast
    sends frames with a NaN to pandas-ta): min and max are exact, so any order agrees."""
    if len(x) < n:
        return np.full(len(x), NAN)
    win = np.lib.stride_tricks.sliding_window_view(x, n)
    return _nan_head(np.asarray(how(win, axis=1), np.float64), n - 1)


def _nan_head(x: Floats, k: int) -> Floats:
    """``utils/_numba.py nb_prepend``: k NaNs, then x."""
    return np.concatenate([np.full(k, NAN), x])


def _non_zero_range(x: Floats, y: Floats) -> Floats:
    """``utils/_core.py non_zero_range``: x - y, plus epsilon everywhere once any is 0."""
    diff = x - y
    if (diff == 0).any():
        diff = diff + EPS
    return diff


def sma(c: Floats, n: int) -> Floats:
    """``overlap/sma.py sma`` -> ``nb_sma``: convolve(ones(n)/n, x)[n-1:1-n], n-1 NaNs first."""
    conv = np.convolve(np.ones(n) / n, c).astype(np.float64, copy=False)
    return _nan_head(conv[n - 1 : 1 - n], n - 1)


def ema(c: Floats, n: int) -> Floats:
    """``overlap/ema.py ema`` (presma): the first n-1 NaN, row n-1 the mean of the first n,
    then ewm(span=n, adjust=False)."""
    x = c.copy()
    first = c[:n].mean()
    x[: n - 1] = NAN
    x[n - 1] = first
    return _ewm(x, span=n)


def _rma(x: Floats, n: int) -> Floats:
    """``overlap/rma.py rma``: ewm(alpha=1/n, adjust=False)."""
    return _ewm(x, alpha=1.0 / n)


def rsi(c: Floats, n: int) -> Floats:
    """``momentum/rsi.py rsi`` (mamode rma): 100 * RMA(gains) / (RMA(gains) + |RMA(losses)|)
    of close.diff(); row 0 NaN, 0/0 NaN."""
    d = _nan_head(np.diff(c), 1)
    avg_gain = _rma(np.where(d < 0, 0.0, d), n)
    avg_loss = _rma(np.where(d > 0, 0.0, d), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = 100.0 * avg_gain / (avg_gain + np.abs(avg_loss))
    return out


def _true_range(h: Floats, lo: Floats, c: Floats, prenan: bool) -> Floats:
    """``volatility/true_range.py true_range``: max of |non_zero_range(h, l)|, |h - prev c|,
    |prev c - l| skipping NaN (row 0 is the high-low range), or NaN at row 0 with prenan."""
    pc = _nan_head(c[:-1], 1)
    tr: Floats = np.fmax(np.fmax(np.abs(_non_zero_range(h, lo)), np.abs(h - pc)), np.abs(pc - lo))
    if prenan:
        tr[0] = NAN
    return tr


def _atr(h: Floats, lo: Floats, c: Floats, n: int, prenan: bool) -> Floats:
    """``volatility/atr.py atr`` (presma, mamode rma): row n-1 the mean of the true ranges of
    rows 0..n-1 (NaN skipped), the rows before NaN, then RMA."""
    tr = _true_range(h, lo, c, prenan)
    head = tr[:n]
    first = head[~np.isnan(head)].mean() if (~np.isnan(head)).any() else NAN
    tr[: n - 1] = NAN
    tr[n - 1] = first
    return _rma(tr, n)


def atr(h: Floats, lo: Floats, c: Floats, n: int) -> Floats:
    return _atr(h, lo, c, n, prenan=False)


def adx(h: Floats, lo: Floats, c: Floats, n: int) -> Floats | None:
    """``trend/adx.py adx`` (tvmode False, mamode rma, signal_length n): +DM/-DM (row 0 NaN,
    below epsilon 0 as ``utils/_math.py zero``), DI = 100/ATR(prenan) * RMA(DM), DX =
    100|DI+ - DI-|/(DI+ + DI-), ADX = RMA(DX). None (all NaN) when the ATR is all NaN."""
    atr_ = _atr(h, lo, c, n, prenan=True)
    if np.isnan(atr_).all():
        return None
    k = 100.0 / atr_
    up = _nan_head(h[1:] - h[:-1], 1)
    dn = _nan_head(lo[:-1] - lo[1:], 1)
    pos = ((up > dn) & (up > 0)) * up
    neg = ((dn > up) & (dn > 0)) * dn
    pos[np.abs(pos) < EPS] = 0.0
    neg[np.abs(neg) < EPS] = 0.0
    dmp = k * _rma(pos, n)
    dmn = k * _rma(neg, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = 100.0 * np.abs(dmp - dmn) / (dmp + dmn)
    return _rma(dx, n)


def _from_first_valid(x: Floats, f: Callable[[Floats], Floats]) -> Floats:
    """``x.loc[x.first_valid_index():]`` through f, aligned back on x's rows."""
    valid = np.flatnonzero(~np.isnan(x))
    out = np.full(len(x), NAN)
    if len(valid):
        out[valid[0] :] = f(x[valid[0] :])
    return out


def macd(c: Floats) -> Columns:
    """``momentum/macd.py macd`` (12, 26, 9): EMA12 - EMA26, signal = EMA9 of macd from its
    first valid row, hist = macd - signal. Columns macd, signal, hist."""
    m = ema(c, 12) - ema(c, 26)
    s = _from_first_valid(m, lambda x: ema(x, 9))
    return m, s, m - s


def bbands(c: Floats, n: int) -> Columns:
    """``volatility/bbands.py bbands`` (std 2, ddof 1, mamode sma): mid = SMA n, bands = mid
    -/+ 2 sqrt(rolling var) (``statistics/stdev.py`` -> ``variance.py``). lower, mid, upper."""
    import pandas as pd  # noqa: PLC0415 - only Bollinger bands need pandas' rolling var

    std = np.sqrt(pd.Series(c, copy=False).rolling(n).var(1).to_numpy())
    mid = sma(c, n)
    return mid - 2.0 * std, mid, mid + 2.0 * std


def stoch(h: Floats, lo: Floats, c: Floats) -> Columns:
    """``momentum/stoch.py stoch`` (k 14, d 3, smooth_k 3, mamode sma): raw = 100(close -
    LL14)/non_zero_range(HH14, LL14), %K = SMA3 of raw from its first valid row, %D = SMA3 of
    %K from its first valid row."""
    ll = _rolling(lo, 14, np.min)
    hh = _rolling(h, 14, np.max)
    raw = 100.0 * (c - ll) / _non_zero_range(hh, ll)
    k = _from_first_valid(raw, lambda x: sma(x, 3))
    return k, _from_first_valid(k, lambda x: sma(x, 3))


def obv(c: Floats, v: Floats) -> Floats:
    """``volume/obv.py obv``: cumsum of sign(close.diff()) * volume; ``utils/_core.py
    signed_series`` leaves row 0 NaN, and the sum skips it."""
    sv = _nan_head(np.sign(np.diff(c)) * v[1:], 1)
    out = np.cumsum(np.nan_to_num(sv, nan=0.0))
    out[0] = NAN
    return out


def min_rows(spec: IndicatorSpec) -> int:
    """pandas-ta's ``v_series`` minimum for the spec; fewer rows give all-NaN columns."""
    n = spec.length
    return {"rsi": n + 1, "atr": n + 1, "adx": n + 1, "macd": 34, "stoch": 20, "obv": 1}.get(
        spec.name, n
    )


def covered(spec: IndicatorSpec) -> bool:
    """Whether a kernel computes ``spec`` (else pandas-ta does)."""
    if spec.name in ("macd", "stoch", "obv"):
        return True
    return spec.name in ("sma", "ema", "rsi", "atr", "adx", "bbands") and spec.length >= 2


def columns(
    spec: IndicatorSpec, o: Floats, h: Floats, lo: Floats, c: Floats, v: Floats
) -> Columns | None:
    """The spec's output columns (``spec.columns`` order), None when pandas-ta gives None."""
    if len(c) < min_rows(spec):
        return None
    n = spec.length
    match spec.name:
        case "sma":
            return (sma(c, n),)
        case "ema":
            return (ema(c, n),)
        case "rsi":
            return (rsi(c, n),)
        case "atr":
            return (atr(h, lo, c, n),)
        case "adx":
            res = adx(h, lo, c, n)
            return None if res is None else (res,)
        case "macd":
            return macd(c)
        case "bbands":
            return bbands(c, n)
        case "stoch":
            return stoch(h, lo, c)
        case "obv":
            return (obv(c, v),)
    raise ValueError(f"unknown indicator {spec.name!r}")


def compute_fast(frame: Any, specs: Iterable[IndicatorSpec]) -> Any:
    """``indicators.compute(frame, specs)`` through the kernels: ``frame`` with one column per
    spec output added (NaN during warm-up); the input is not modified."""
    wanted = sorted(set(specs))
    arrays = [frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")]
    if any(np.isnan(a).any() for a in arrays):
        wanted_slow = wanted  # pandas-ta's NaN handling is not reproduced here
    else:
        wanted_slow = [s for s in wanted if not covered(s)]
    slow = None
    if wanted_slow:
        from .columns import to_pandas  # noqa: PLC0415
        from .indicators import compute  # noqa: PLC0415 - loads pandas-ta

        slow = compute(to_pandas(frame), wanted_slow)
    out = frame.copy()
    for spec in wanted:  # in compute's order
        if slow is not None and spec in wanted_slow:
            for col in spec.columns:
                out[col] = slow[col].to_numpy()
            continue
        res = columns(spec, *arrays)
        for i, col in enumerate(spec.columns):
            out[col] = NAN if res is None else res[i]
    return out
