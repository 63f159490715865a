"""OHLCV history from CSV files in the ``timestamp,open,high,low,close,volume`` format.

The happy path is one ``pandas.read_csv`` call with fixed dtypes (200k rows in well under a
second); only when that fails, or a check finds a bad row, do we look closer to name the file,
the line and the fix in one ``DataError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import Floats, Mask
from ..errors import DataError
from ..models import TIMEFRAMES
from .columns import Columns, read_columns

if TYPE_CHECKING:
    import pandas as pd

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
COLUMNS = ("ts", "open", "high", "low", "close", "volume")
# Candle times before 1973 in milliseconds are almost surely seconds: catch that mix-up early.
MIN_MS = 100_000_000_000
# ... and after the year 2286 almost surely microseconds or nanoseconds (some exchange dumps,
# e.g. Binance's public spot klines from 2025 on, use microseconds).
MAX_MS = 10_000_000_000_000


def load_csv(path: str | Path) -> pd.DataFrame:
    """Load and validate an OHLCV CSV file.

    Returns a frame with columns ts (int64 ms, UTC, candle open time), open, high, low, close,
    volume (float64) and a plain RangeIndex. Raises ``DataError`` naming the file, the line
    (1 = the header) and the fix when the file is missing, empty or malformed.
    """
    p = _checked_header(path)
    frame = _read_fast(p)
    if frame.empty:
        raise DataError(f"{p}: no candles after the header; add one line per candle")
    _validate(p, frame)
    return frame


def load_columns(path: str | Path) -> Columns:
    """``load_csv`` without pandas: the same values as numpy ``Columns`` (ts int64, open..volume
    float64), the same checks and the same ``DataError``s. A file numpy does not read plainly
    goes through ``load_csv`` (pandas), which names the bad line, or reads what numpy would not
    (e.g. an ``NA``, which the checks then refuse)."""
    p = _checked_header(path)
    cols = read_columns(p)
    if cols is None:
        frame = load_csv(p)
        return Columns({c: frame[c].to_numpy() for c in COLUMNS})
    _validate(p, cols)
    return cols


def _checked_header(path: str | Path) -> Path:
    """The path, once it names a file whose first line is the expected header."""
    p = Path(path)
    if not p.exists():
        raise DataError(
            f"{p}: file not found; give the path of a CSV file with the header {','.join(HEADER)}"
        )
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not a CSV file")
    if not p.is_file():  # a pipe (<(zcat ...), /dev/stdin): the header check below would
        # consume its first buffer (~8 KB), and the reader would start mid-file, silently
        raise DataError(
            f"{p}: is not a regular file (a pipe or a device); save the candles to a .csv "
            "file first, e.g. zcat candles.csv.gz > candles.csv"
        )
    with p.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise DataError(
            f"{p}: the file is empty; expected the header line "
            f"{','.join(HEADER)} followed by one candle per line"
        )
    header = tuple(h.strip().lower() for h in first.strip().lstrip("\ufeff").split(","))
    if header != HEADER:
        raise DataError(
            f"{p}, line 1: wrong header {first.strip()!r}; expected exactly "
            f"{','.join(HEADER)} (timestamps in integer milliseconds, UTC)"
        )
    return p


def _read_fast(p: Path) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - load_columns reads without it

    dtypes = {"timestamp": "int64", **{c: "float64" for c in HEADER[1:]}}
    try:
        # numpy's "invalid value encountered in cast" (a timestamp such as 1e30) would reach
        # the user's terminal before the error below that names the line (adversary s24 F6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # names=: the dtypes apply whatever the header's case (checked by _checked_header)
            df = pd.read_csv(
                p, dtype=dtypes, engine="c", skipinitialspace=True, header=0, names=list(HEADER)
            )
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError) as e:
        raise _explain_parse_failure(p, e) from None
    df.columns = pd.Index(list(COLUMNS))
    return df


def _explain_parse_failure(p: Path, err: Exception) -> DataError:
    """The fast reader failed: find the first bad line the slow way, to name it."""
    import pandas as pd  # noqa: PLC0415

    text = str(err)
    if "Expected" in text and "fields" in text:  # ragged row: pandas names the line itself
        return DataError(f"{p}: {text.strip()}; every line needs the 6 fields {','.join(HEADER)}")
    try:
        raw = pd.read_csv(
            p, dtype=str, keep_default_na=False, engine="c", header=0, names=list(HEADER)
        )
    except (ValueError, pd.errors.ParserError) as e:
        return DataError(
            f"{p}: cannot be read as CSV ({e}); expected the header "
            f"{','.join(HEADER)} and one candle per line"
        )
    for col in HEADER:
        values = raw[col].str.strip()
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna() & (values != "") & (values.str.lower() != "nan")
        if col == "timestamp":
            bad |= parsed.notna() & (parsed != parsed.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            return DataError(
                f"{p}, line {row + 2}: {col} {raw[col].iloc[row]!r} is not a "
                f"number; fix or remove that line"
            )
        if col == "timestamp":  # beyond int64: OverflowError in the fast reader (adv s24 F5)
            huge = parsed.notna() & (parsed.abs() >= 2.0**63)
            if huge.any():
                row = int(np.flatnonzero(huge.to_numpy())[0])
                return DataError(
                    f"{p}, line {row + 2}: timestamp {raw[col].iloc[row]!r} is out of range; "
                    "timestamps are milliseconds since 1970-01-01 UTC"
                )
        missing = values == ""
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            return DataError(
                f"{p}, line {row + 2}: {col} is empty; every candle needs all six values"
            )
    return DataError(
        f"{p}: cannot be read ({text}); expected integer millisecond timestamps and decimal prices"
    )


JUMP = 100.0  # the most a candle's prices may be off the close before (a factor)


def _first_bad(p: Path, mask: Mask, what: Callable[[int], str]) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        raise DataError(f"{p}, line {row + 2}: {what(row)}")


def _not_finite(col: str) -> Callable[[int], str]:
    return lambda _r: f"{col} is missing or not a finite number; fix or remove that line"


def _not_positive(col: str, values: Floats) -> Callable[[int], str]:
    return lambda r: f"{col} {values[r]:g} is not a positive price; fix or remove that line"


def _validate(p: Path, df: pd.DataFrame | Columns) -> None:
    vals = {c: df[c].to_numpy() for c in COLUMNS}
    for col in COLUMNS[1:]:
        _first_bad(p, ~np.isfinite(vals[col]), _not_finite(col))
    for col in PRICES:
        _first_bad(p, vals[col] <= 0, _not_positive(col, vals[col]))
    _first_bad(
        p,
        vals["volume"] < 0,
        lambda r: f"volume {vals['volume'][r]:g} is negative; fix or remove that line",
    )
    o, h, lo, c = vals["open"], vals["high"], vals["low"], vals["close"]
    _first_bad(
        p,
        h < np.maximum(o, c),
        lambda r: (
            f"high {h[r]:g} is below max(open {o[r]:g}, close {c[r]:g}); the "
            "columns may be out of order (expected open,high,low,close)"
        ),
    )
    _first_bad(
        p,
        lo > np.minimum(o, c),
        lambda r: (
            f"low {lo[r]:g} is above min(open {o[r]:g}, close {c[r]:g}); the "
            "columns may be out of order (expected open,high,low,close)"
        ),
    )
    # A price 100x away from the candle before's close is a bad print, not a market move (the
    # largest crypto flash crashes wicked ~10x): one such row poisons stops and indicators.
    prev = np.concatenate(([np.nan], c[:-1]))
    with np.errstate(invalid="ignore"):
        far = (np.maximum(h, prev) > JUMP * np.minimum(lo, prev)) & ~np.isnan(prev)
    _first_bad(
        p,
        far,
        lambda r: (
            f"a price {JUMP:g}x away from the close before ({c[r - 1]:g}): open {o[r]:g}, "
            f"high {h[r]:g}, low {lo[r]:g}, close {c[r]:g}; fix or remove that line"
        ),
    )
    ts = vals["ts"]
    _first_bad(
        p,
        ts < MIN_MS,
        lambda r: (
            f"timestamp {ts[r]} is not in milliseconds (looks like seconds or "
            "an index); use integer milliseconds since 1970-01-01 UTC"
        ),
    )
    _first_bad(
        p,
        ts >= MAX_MS,
        lambda r: (
            f"timestamp {ts[r]} is not in milliseconds (looks like "
            f"{'nanoseconds' if ts[r] >= MAX_MS * 100_000 else 'microseconds'}); "
            f"divide by {1_000_000 if ts[r] >= MAX_MS * 100_000 else 1000} to get integer "
            "milliseconds since 1970-01-01 UTC"
        ),
    )
    if len(ts) > 1:
        step = np.diff(ts)
        bad = np.concatenate(([False], step <= 0))
        _first_bad(
            p,
            bad,
            lambda r: (
                (f"duplicate timestamp {ts[r]} (same as line {r + 1}); remove the repeated candle")
                if ts[r] == ts[r - 1]
                else (
                    f"timestamp {ts[r]} is earlier than line {r + 1} ({ts[r - 1]}); sort the "
                    "file by timestamp, oldest first"
                )
            ),
        )


def timeframe_of(df: Any) -> str | None:
    """The timeframe name (``1h``, ``5m``, ...) of the most common step between candles, or
    None when there are fewer than two candles or the step is not a known timeframe."""
    step = step_ms(df)
    if step is None:
        return None
    for name, seconds in TIMEFRAMES.items():
        if seconds * 1000 == step:
            return name
    return None


def step_ms(df: Any) -> int | None:
    """The most common step between consecutive candle times, in milliseconds."""
    ts = df["ts"].to_numpy()
    if len(ts) < 2:
        return None
    steps, counts = np.unique(np.diff(ts), return_counts=True)
    return int(steps[int(np.argmax(counts))])
