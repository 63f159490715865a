"""What the websocket tests share: the market times of the fakes, a hand-moved clock and a
reader standing in for a bot (loaded by path: pytest runs in importlib mode)."""

from __future__ import annotations

import asyncio
from typing import Any

TF_MS = 60_000
LAST_OPEN = 1_700_000_000_000 - TF_MS  # the REST fake's newest kline (still open at start)


class Clock:
    """The engine's clock, moved by hand (stale detection reads it)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


class Reader:
    """A bot as ExchangeStreams sees it: an inbox and the facts it was told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.facts: list[Any] = []
        self.items: list[Any] = []

    def market_fact(self, fact: Any) -> None:
        self.facts.append(fact)

    def drain(self) -> list[Any]:
        while not self.inbox.empty():
            self.items.append(self.inbox.get_nowait())
        return self.items

    def bars(self) -> list[Any]:
        return [i.candle for i in self.drain() if hasattr(i, "candle")]

    def ticks(self) -> list[float]:
        return [i.price for i in self.drain() if hasattr(i, "price")]
