"""Clocks are passed in: the real one for trading, a virtual one for sim replay and tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


class VirtualClock:
    """Time that moves only when told: the sim market sets it to each candle's close."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ms: int) -> None:
        if ms > self._now:
            self._now = ms

    def advance(self, ms: int) -> None:
        self._now += ms
