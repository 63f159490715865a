"""Event bus: every subscriber gets its own bounded queue; publishing never blocks the engine.

A slow subscriber (a frozen UI, a stalled socket) cannot stall trading: when its queue is full the
oldest event is dropped and counted, and the subscriber can resync with `RequestSnapshot`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from .messages import Event


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int, accept: Callable[[Event], bool] | None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.accept = accept
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        # a tuple, replaced on each change: ``publish`` runs several times per bot per candle
        # and iterates it without a copy (a listener may remove itself meanwhile)
        self._listeners: tuple[Callable[[Event], None], ...] = ()

    def subscribe(
        self, maxsize: int = 10_000, accept: Callable[[Event], bool] | None = None
    ) -> Subscription:
        sub = Subscription(self, maxsize, accept)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def listen(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` synchronously on every event (bridges to other threads use this).

        The callback must be quick and must not raise; returns a function that removes it.
        """
        self._listeners = (*self._listeners, callback)
        return lambda: self._unlisten(callback)

    def _unlisten(self, callback: Callable[[Event], None]) -> None:
        if callback in self._listeners:
            listeners = list(self._listeners)
            listeners.remove(callback)
            self._listeners = tuple(listeners)

    def publish(self, event: Event) -> None:
        for sub in self._subs:
            sub.offer(event)
        for cb in self._listeners:
            cb(event)
