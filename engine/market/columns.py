"""Candles as plain numpy columns: the pandas-free backtest path of the built-in strategies.

`oxbot backtest` with a built-in strategy spends half its start-up importing pandas (~0.45 s of a
~1.1 s command) for a frame it only reads column by column. ``Columns`` holds the same columns
(ts int64, open..volume and indicator columns float64) and answers the part of the DataFrame
interface those readers use: ``frame[col].to_numpy(dtype)``, ``len``, ``in``, ``.columns``,
``.copy()``, ``frame[col] = values`` and ``.empty``. A strategy opts in with the class attribute
``columnar = True`` when its ``signals(frame)`` reads nothing else; every other strategy (a
user's above all: the SDK promises a DataFrame) gets ``to_pandas()``.

``load_columns(path)`` reads a CSV with ``numpy.loadtxt`` into the same values ``load_csv``'s
``pandas.read_csv`` gives (tests/backtest/test_columnar.py compares them on every real file),
and hands anything unusual (a parse error, an empty file) to ``load_csv``, whose messages name
the line and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

type Array = npt.NDArray[Any]  # int64 ts or float64 values


class Column:
    """One column: ``to_numpy(dtype)`` as a pandas Series gives it (no copy when the dtype
    matches)."""

    __slots__ = ("values",)

    def __init__(self, values: Array) -> None:
        self.values = values

    def to_numpy(self, dtype: Any = None, copy: bool = False) -> Array:
        out = self.values if dtype is None else self.values.astype(dtype, copy=False)
        return out.copy() if copy else out

    def __len__(self) -> int:
        return len(self.values)


class Columns(Mapping[str, Column]):
    """Named numpy columns of equal length, read like a DataFrame's (see the module doc)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Array]) -> None:
        self._data = data

    def __getitem__(self, col: str) -> Column:
        return Column(self._data[col])

    def __setitem__(self, col: str, values: Any) -> None:
        n = len(self)
        if np.ndim(values) == 0:  # a scalar fills the column, as in pandas
            self._data[col] = np.full(n, values, dtype=np.float64)
            return
        arr = np.asarray(values)
        if len(arr) != n:
            raise ValueError(f"column {col!r} has {len(arr)} values for {n} rows")
        self._data[col] = arr

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        for values in self._data.values():
            return len(values)
        return 0

    def __contains__(self, col: object) -> bool:
        return col in self._data

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    @property
    def empty(self) -> bool:
        return len(self) == 0

    def copy(self, deep: bool = False) -> Columns:
        """A new column dict (the arrays shared unless ``deep``), as ``DataFrame.copy``: adding
        a column to the copy leaves this one as it was."""
        return Columns({k: v.copy() if deep else v for k, v in self._data.items()})

    def rows(self, keep: Array) -> Columns:
        """The rows where the boolean mask ``keep`` is True (new arrays)."""
        return Columns({k: v[keep] for k, v in self._data.items()})

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd  # noqa: PLC0415 - only a strategy that needs a DataFrame pays

        return pd.DataFrame({k: v.copy() for k, v in self._data.items()})


def to_pandas(frame: Any) -> pd.DataFrame:
    """``frame`` as a pandas DataFrame (itself when it is one)."""
    return frame.to_pandas() if isinstance(frame, Columns) else frame


_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("open", np.float64),
        ("high", np.float64),
        ("low", np.float64),
        ("close", np.float64),
        ("volume", np.float64),
    ]
)


_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r\x0b\x0c"


def read_columns(p: Path) -> Columns | None:
    """The CSV's rows after the header as columns, or None when ``numpy.loadtxt`` cannot read
    them all plainly (the caller then uses pandas, which names the problem)."""
    import warnings  # noqa: PLC0415

    # numpy strips any str.isspace() character around a number (U+00A0, U+3000, U+0085,
    # \x1c-\x1f, ...); pandas' reader refuses them. A file with a byte outside printable
    # ASCII and \t \n \r \v \f (a leading BOM aside) goes to pandas, which says what it says.
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.translate(None, _PLAIN):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data" is a None, not a warning
            rows = np.loadtxt(
                p,
                dtype=_DTYPE,
                delimiter=",",
                skiprows=1,
                comments=None,
                encoding="utf-8",
                ndmin=1,
            )
    except (ValueError, UserWarning, UnicodeDecodeError, OverflowError):
        return None
    if len(rows) == 0:
        return None
    columns = {name: np.ascontiguousarray(rows[name]) for name in _DTYPE.names or ()}
    for values in columns.values():  # read-only as pandas 3's to_numpy() (adversary s24 F7): a
        values.setflags(write=False)  # strategy writing in place fails, not the shared candles
    return Columns(columns)
