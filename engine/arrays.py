"""Names for the numpy arrays the market, strategies and backtests pass around, so a signature
says what an array holds (mypy checks the element type). The aliases' values are evaluated
only when read (``type`` statements are lazy): importing this module imports no numpy."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

type Floats = npt.NDArray[np.float64]  # prices, OHLCV rows, equity per bar
type Times = npt.NDArray[np.int64]  # candle open times, ms
type Ints = npt.NDArray[np.int64]  # bar indexes, regime numbers
type Signals = npt.NDArray[np.int8]  # ENTER (1), EXIT (-1), NONE (0) per bar
type Mask = npt.NDArray[np.bool_]

__all__ = ["Floats", "Ints", "Mask", "Signals", "Times"]
