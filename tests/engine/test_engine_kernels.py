"""The whole-array kernels (engine/market/kernels.py ``compute_fast``) give pandas-ta's columns
(engine/market/indicators.py ``compute``, pandas-ta 0.4.71b0 without TA-Lib) to 1e-9 relative
(1e-9 absolute near zero), NaN at exactly the same rows, same column order; a spec without a
kernel, and a frame with a NaN price, go to pandas-ta itself. Generators are the incremental
test's (tests/engine/test_engine_incremental.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxbot.engine.market import kernels
from oxbot.engine.market.indicators import FULL_SET, IndicatorLengthError, IndicatorSpec, compute
from oxbot.engine.market.kernels import compute_fast

from .test_engine_incremental import COLS, DATA, candles, extra_specs, paths

TOL = 1e-9


def differences(ref: pd.DataFrame, got: pd.DataFrame) -> list[str]:
    """Every column where a row's NaN-ness differs or a value differs by more than TOL
    relative (absolute below 1); an empty list when the frames agree."""
    if list(ref.columns) != list(got.columns):
        return [f"columns {list(ref.columns)} != {list(got.columns)}"]
    bad = []
    for col in ref.columns:
        a, b = ref[col].to_numpy(np.float64), got[col].to_numpy(np.float64)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        off = (nan_a != nan_b) | (
            ~nan_a & ~nan_b & (np.abs(a - b) > TOL * np.maximum(1.0, np.maximum(abs(a), abs(b))))
        )
        if off.any():
            i = int(np.argmax(off))
            bad.append(f"{col}[{i}]: pandas-ta {a[i]!r}, kernel {b[i]!r}")
    return bad


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=paths(), extra=extra_specs)
def test_kernels_equal_pandas_ta_on_generated_paths(
    frame: pd.DataFrame, extra: list[IndicatorSpec]
) -> None:
    specs = FULL_SET + tuple(extra)
    assert differences(compute(frame, specs), compute_fast(frame, specs)) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=paths(), rows=st.integers(0, 60), extra=extra_specs)
def test_short_frames_give_pandas_ta_all_nan_columns(
    frame: pd.DataFrame, rows: int, extra: list[IndicatorSpec]
) -> None:
    """Below a function's minimum rows pandas-ta returns None (utils/_validate.py v_series),
    which compute() turns into all-NaN columns; the kernels do the same at the same sizes."""
    short = frame.iloc[:rows].reset_index(drop=True)
    specs = FULL_SET + tuple(extra)
    assert differences(compute(short, specs), compute_fast(short, specs)) == []


def test_flat_series_zero_ranges_and_0_over_0() -> None:
    """Equal closes, high == low: non_zero_range adds epsilon, RSI and ADX are 0/0 (NaN)."""
    frame = candles([100.0] * 80, [0.0] * 80, [5.0] * 80)
    got = compute_fast(frame, FULL_SET)
    assert differences(compute(frame, FULL_SET), got) == []
    assert got["rsi_14"].isna().all() and got["adx_14"].isna().all()  # the case is real


def test_a_wrong_value_is_caught() -> None:
    frame = candles([100.0 + (i % 7) for i in range(80)], [1.0] * 80, [1.0] * 80)
    ref = compute(frame, FULL_SET)
    frame.loc[50, "close"] += 1e-3
    assert differences(ref, compute_fast(frame, FULL_SET))


def test_a_length_below_2_is_refused_and_a_nan_price_goes_to_pandas_ta() -> None:
    """A length below 2 (which pandas-ta crashes on or replaces by its default; adversary
    finding A7) is refused when the spec is made, so every spec is a kernel's; a NaN close
    sends every spec to pandas-ta."""
    rng = np.random.default_rng(3)
    closes = list(np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 90))), 2))
    frame = candles(closes, [0.5] * 90, [3.0] * 90)
    for bad in (1, 0, -5, 2.5, True):
        with pytest.raises(IndicatorLengthError, match="from 2 up"):
            IndicatorSpec("ema", bad)  # type: ignore[arg-type]
    assert all(kernels.covered(s) for s in FULL_SET)
    assert differences(compute(frame, FULL_SET), compute_fast(frame, FULL_SET)) == []
    frame.loc[40, "close"] = float("nan")
    assert differences(compute(frame, FULL_SET), compute_fast(frame, FULL_SET)) == []


def test_the_kernels_load_neither_pandas_ta_nor_numba() -> None:
    probe = (
        "import sys, json\n"
        "import pandas as pd\n"
        "from oxbot.engine.market.indicators import FULL_SET\n"
        "from oxbot.engine.market.kernels import compute_fast\n"
        "c = [100.0 + i % 9 for i in range(99)]\n"
        "frame = pd.DataFrame({'open': c, 'high': [x + 1 for x in c], 'low': [x - 1 for x in c],"
        " 'close': c, 'volume': [1.0] * 99})\n"
        "assert compute_fast(frame, FULL_SET)['stoch_d'].notna().any()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if m.split(".")[0] in ("pandas_ta", "numba")]


REAL = sorted(DATA.glob("*.csv")) if DATA.is_dir() else []


@pytest.mark.realdata
@pytest.mark.skipif(not REAL, reason=f"no real OHLCV data: {DATA} is missing or has no CSV")
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_data_first_3000_rows(path: Path) -> None:
    frame = pd.read_csv(path, nrows=3000)[COLS].astype(float)
    specs = FULL_SET + (
        IndicatorSpec("sma", 200),
        IndicatorSpec("ema", 200),
        IndicatorSpec("rsi", 7),
        IndicatorSpec("bbands", 50),
        IndicatorSpec("adx", 7),
        IndicatorSpec("atr", 2),
    )
    assert differences(compute(frame, specs), compute_fast(frame, specs)) == []
