"""IncrementalSet fed one candle at a time gives pandas-ta's values (indicators.compute over the
whole series) row for row: to 1e-9 relative (1e-9 absolute near zero), NaN where pandas-ta has
NaN. pandas-ta 0.4.71b0 without TA-Lib is the reference (pandas_ta/* read in the venv; the
functions followed are cited in engine/market/incremental.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxbot.engine.market.incremental import IncrementalSet
from oxbot.engine.market.indicators import FULL_SET, IndicatorSpec, compute

COLS = ["open", "high", "low", "close", "volume"]
DATA = Path("/work/shared/data/ohlcv")
TOL = 1e-9


def feed(frame: pd.DataFrame, specs: tuple[IndicatorSpec, ...], **kw: bool) -> pd.DataFrame:
    inc = IncrementalSet(specs, **kw)
    return pd.DataFrame([inc.update(*row) for row in frame[COLS].to_numpy().tolist()])


def band_variance(frame: pd.DataFrame, col: str) -> np.ndarray:
    """bb_upper_n -> the variance under it: ((upper - mid) / 2) ** 2."""
    mid = frame[col.replace("upper", "mid")].to_numpy()
    return ((frame[col].to_numpy() - mid) / 2) ** 2


def mismatches(ref: pd.DataFrame, got: pd.DataFrame, specs: tuple[IndicatorSpec, ...]) -> list[str]:
    """Columns where a row differs by more than TOL (relative, or absolute near 0). Bollinger
    bands: pandas' own rolling variance keeps a residue of a few ulps of (price range)^2 after a
    window turns flat, which the square root lifts to ~1e-8 of the price; so the band width is
    compared as a variance, to 1e-9 relative or 1e-12 of the largest price so far, squared,
    absolute; the mid as usual."""
    bad = []
    for col in sorted({c for s in specs for c in s.columns}):
        a, b = ref[col].to_numpy(), got[col].to_numpy()
        if col.startswith("bb_lower"):
            continue  # mirror of bb_upper around bb_mid
        if col.startswith("bb_upper"):
            top = ref["close"].abs().cummax().to_numpy()  # the largest price seen so far
            va, vb = band_variance(ref, col), band_variance(got, col)
            off = np.abs(va - vb) > TOL * np.maximum(va, vb) + 1e-12 * top**2
            off |= np.isnan(va) != np.isnan(vb)
            if off.any():
                i = int(np.argmax(off))
                bad.append(f"{col}[{i}]: pandas-ta {a[i]!r}, incremental {b[i]!r}")
            continue
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if math.isnan(x) and math.isnan(y):
                continue
            if math.isnan(x) or math.isnan(y) or abs(x - y) > TOL * max(1.0, abs(x), abs(y)):
                bad.append(f"{col}[{i}]: pandas-ta {x!r}, incremental {y!r}")
                break
    return bad


def candles(closes: list[float], spreads: list[float], volumes: list[float]) -> pd.DataFrame:
    """Candles around ``closes``: each opens at the previous close; high/low reach ``spread``
    beyond the body (0: a candle whose high, low or both equal its body)."""
    rows = []
    prev = closes[0]
    for c, s, v in zip(closes, spreads, volumes, strict=True):
        rows.append((prev, max(prev, c) + s, min(prev, c) - s, c, v))
        prev = c
    return pd.DataFrame(rows, columns=COLS)


# A path: random-walk steps, runs of equal closes (zero variance, zero true range when the
# spread is 0 too) and jumps (price gaps of up to x8 or /8).
step = st.one_of(
    st.tuples(st.just("walk"), st.floats(-0.03, 0.03)),
    st.tuples(st.just("flat"), st.integers(1, 40)),
    st.tuples(st.just("jump"), st.floats(-2.0, 2.0)),
)


@st.composite
def paths(draw: st.DrawFn) -> pd.DataFrame:
    steps = draw(st.lists(step, min_size=20, max_size=150))
    price = draw(st.floats(0.5, 50_000))
    closes: list[float] = []
    for kind, x in steps:
        if kind == "flat":
            closes.extend([closes[-1] if closes else price] * int(x))
            continue
        price *= math.exp(x)
        closes.append(round(price, 2) or 0.01)
    while len(closes) < 60:  # every spec's minimum rows (macd 34) and some
        closes.append(closes[-1])
    n = len(closes)
    zero_spread = draw(st.booleans())
    spreads = [0.0 if zero_spread else abs(c) * 0.004 * ((i * 7) % 5) for i, c in enumerate(closes)]
    volumes = [float((i * 37) % 11) for i in range(n)]  # 0s included
    return candles(closes, spreads, volumes)


lengths = st.integers(2, 30)
extra_specs = st.lists(
    st.builds(
        IndicatorSpec, st.sampled_from(["sma", "ema", "rsi", "atr", "adx", "bbands"]), lengths
    ),
    max_size=4,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=paths(), extra=extra_specs)
def test_one_candle_at_a_time_equals_pandas_ta_over_the_whole_series(
    frame: pd.DataFrame, extra: list[IndicatorSpec]
) -> None:
    specs = FULL_SET + tuple(extra)
    assert mismatches(compute(frame, specs), feed(frame, specs), specs) == []


def test_flat_series_gives_pandas_ta_nans_and_zeros() -> None:
    """All closes equal, high == low: RSI and ADX are 0/0 (NaN) throughout, bands collapse on
    the mid, stoch is 0 (pandas-ta's non_zero_range adds epsilon), OBV stays 0."""
    frame = candles([100.0] * 80, [0.0] * 80, [5.0] * 80)
    ref, got = compute(frame, FULL_SET), feed(frame, FULL_SET)
    assert mismatches(ref, got, FULL_SET) == []
    assert got["rsi_14"].isna().all() and got["adx_14"].isna().all()  # the case is real
    assert got["bb_upper_20"].iloc[-1] == got["bb_lower_20"].iloc[-1] == 100.0
    assert got["stoch_k"].iloc[-1] == 0.0 and got["obv"].iloc[-1] == 0.0


def test_a_wrong_value_is_caught() -> None:
    """The comparison can fail: a close changed after the reference was computed shows."""
    frame = candles([100.0 + (i % 7) for i in range(80)], [1.0] * 80, [1.0] * 80)
    ref = compute(frame, FULL_SET)
    frame.loc[50, "close"] += 1e-3
    assert mismatches(ref, feed(frame, FULL_SET), FULL_SET)


def test_short_as_nan_is_compute_over_the_rows_so_far() -> None:
    """pandas-ta returns None below an indicator's minimum rows (utils/_validate.py v_series):
    with short_as_nan each row equals the last row of compute() over the rows fed so far."""
    rng = np.random.default_rng(7)
    closes = list(np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 45))), 2))
    frame = candles(closes, [0.3] * 45, [2.0] * 45)
    specs = FULL_SET + (IndicatorSpec("rsi", 5), IndicatorSpec("atr", 3))
    got = feed(frame, specs, short_as_nan=True)
    ref = pd.DataFrame(
        [compute(frame.iloc[: t + 1], specs).iloc[-1] for t in range(len(frame))]
    ).reset_index(drop=True)
    assert mismatches(ref, got, specs) == []
    # the whole series differs exactly there: rsi_14 has values from row 1 on
    assert not math.isnan(compute(frame, specs)["rsi_14"].iloc[3]) and math.isnan(
        got["rsi_14"].iloc[3]
    )


REAL = sorted(DATA.glob("*.csv")) if DATA.is_dir() else []


@pytest.mark.skipif(not REAL, reason=f"no real OHLCV data: {DATA} is missing or has no CSV")
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_data_first_3000_rows(path: Path) -> None:
    frame = pd.read_csv(path, nrows=3000)[COLS].astype(float)
    specs = FULL_SET + (
        IndicatorSpec("rsi", 7),
        IndicatorSpec("bbands", 50),
        IndicatorSpec("adx", 7),
    )
    assert mismatches(compute(frame, specs), feed(frame, specs), specs) == []


@pytest.mark.parametrize("bad", [1e12, 1e-9, 1e18, 1e300])
def test_one_bad_print_does_not_poison_the_running_sums_after_it_left(bad: float) -> None:
    """A CSV row or an exchange print off by orders of magnitude is inside the window while it
    is there (as in pandas); once it left, SMA and the Bollinger bands are those of a stream
    that never saw it (the running sums used to keep the variance at 0 or NaN for good, and
    the SMA off: adversary of issue 14)."""
    before = [100.0 + (i % 7) * 0.37 for i in range(60)]
    after = [101.0 + (i % 5) * 0.23 for i in range(80)]
    specs = (IndicatorSpec("sma", 10), IndicatorSpec("bbands", 10))
    poisoned, clean = IncrementalSet(specs), IncrementalSet(specs)
    for c in [*before, bad, *after]:
        got = poisoned.update(c, c, c, c, 1.0)
    for c in after:  # long after the bad print left the window of 10
        want = clean.update(c, c, c, c, 1.0)
    assert got.keys() == want.keys() and len(want) >= 3
    for col, value in want.items():
        assert math.isclose(got[col], value, rel_tol=1e-9), (col, got[col], value)
