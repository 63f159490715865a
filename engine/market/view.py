"""What a bot reads of one stream at one closed candle: a light view over the stream's arrays.

``MarketView`` gives the newest values (``last``), the last k values of a column (``tail``) and,
for readers that need one, a pandas frame of the whole window (``frame()``: columns ts, open,
high, low, close, volume and the indicator columns), built on first use and cached: a bar's view
is shared by every bot reading the stream, so the frame is built at most once per candle.

A view never changes once made: the stream writes new candles after the rows a view covers and
moves to fresh arrays when it compacts or adds an indicator, so a bot handling an older bar late
still reads that bar's values. Arrays returned by ``tail`` are read-only views: copy them to
modify.

``FrameView`` wraps a ready frame (tests, callers that computed one) behind the same interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arrays import Floats, Times

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np

OHLCV = ("open", "high", "low", "close", "volume")
_NAN = float("nan")


class MarketView:
    """The window of one stream ending at one closed candle (``len(view)`` rows).

    ``key`` is the stream (a ``StreamKey``, or None for a bare frame); ``seq`` numbers the
    stream's candles (the newest one's index since the stream opened, backfill included), so a
    stateful reader can tell that a view directly follows the previous one it read."""

    __slots__ = (
        "_cols",
        "_end",
        "_frame",
        "_m",
        "_order",
        "_prev",
        "_row",
        "_start",
        "_ts",
        "key",
        "seq",
    )

    def __init__(
        self,
        key: Any,
        ts: Times,
        matrix: Floats,
        cols: dict[str, int],
        order: tuple[str, ...],
        start: int,
        end: int,
        seq: int | None,
    ) -> None:
        self.key = key
        self._ts = ts
        self._m = matrix
        self._cols = cols
        self._order = order
        self._start = start
        self._end = end
        self.seq = seq
        self._frame: pd.DataFrame | None = None
        # The newest row and the one before as Python floats, made on the first ``last`` of
        # each: a view is shared by every bot reading the stream, and each reads a few values.
        self._row: list[float] | None = None
        self._prev: list[float] | None = None

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names of ``frame()`` (ts first)."""
        return ("ts", *self._order)

    def __contains__(self, col: object) -> bool:
        return col == "ts" or col in self._cols

    def last(self, col: str, back: int = 0) -> float:
        """The newest value of ``col``, or the one ``back`` rows before it (NaN during an
        indicator's warm-up, and before the window's first row)."""
        if back == 0:
            row = self._row
            if row is None:
                if self._end <= self._start:
                    return _NAN
                row = self._row = self._m[self._end - 1].tolist()
            return row[self._cols[col]]
        if back == 1:
            row = self._prev
            if row is None:
                if self._end - 1 <= self._start:
                    return _NAN
                row = self._prev = self._m[self._end - 2].tolist()
            return row[self._cols[col]]
        i = self._end - 1 - back
        if i < self._start:
            return _NAN
        return float(self._m[i, self._cols[col]])

    def tail(self, col: str, k: int) -> Floats:
        """The last ``k`` values of ``col``, oldest first (fewer when the window is shorter)."""
        lo = max(self._start, self._end - k)
        out: Floats = self._m[lo : self._end, self._cols[col]]
        out.flags.writeable = False
        return out

    def column(self, col: str) -> Floats:
        """The whole window of ``col``, oldest first (read-only)."""
        return self.tail(col, len(self))

    def times(self) -> Times:
        """Candle open times (ms) of the window, oldest first (read-only)."""
        out: Times = self._ts[self._start : self._end]
        out.flags.writeable = False
        return out

    def frame(self) -> pd.DataFrame:
        """The window as a DataFrame: built once per view, and each call gets its own shallow
        copy, so a reader that edits it (``frame["x"] = ...``, ``.loc[...] = ...``) changes
        nothing another bot reads (pandas >= 3 copies on write; the copy itself is cheap)."""
        if self._frame is None:
            data: dict[str, Any] = {"ts": self._ts[self._start : self._end].copy()}
            m = self._m[self._start : self._end]
            for col in self._order:
                data[col] = m[:, self._cols[col]].copy()
            import pandas as pd  # noqa: PLC0415 - on first use, not on import

            self._frame = pd.DataFrame(data)
        return self._frame.copy(deep=False)


class FrameView(MarketView):
    """A ready frame behind the ``MarketView`` interface (``seq`` None: no successor known)."""

    __slots__ = ("_df",)

    def __init__(self, frame: pd.DataFrame, key: Any = None) -> None:
        super().__init__(key, np.zeros(0, dtype=np.int64), np.zeros((0, 0)), {}, (), 0, 0, None)
        self._df = frame
        self._frame = frame

    def __len__(self) -> int:
        return len(self._df)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self._df.columns)

    def __contains__(self, col: object) -> bool:
        return col in self._df.columns

    def last(self, col: str, back: int = 0) -> float:
        if back >= len(self._df):
            return float("nan")
        return float(self._df[col].iat[-1 - back])

    def tail(self, col: str, k: int) -> Floats:
        out: Floats = self._df[col].to_numpy(float)[-k:] if k > 0 else np.zeros(0)
        return out

    def times(self) -> Times:
        out: Times = self._df["ts"].to_numpy(np.int64)
        return out

    def frame(self) -> pd.DataFrame:
        return self._df


def as_view(data: MarketView | pd.DataFrame, key: Any = None) -> MarketView:
    """``data`` itself when it is a view, else the frame wrapped in a ``FrameView``."""
    return data if isinstance(data, MarketView) else FrameView(data, key)
