"""An engine running on the current loop, with helpers to command it and wait (shared by the
engine and llm_engine tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from waiting import describe, wait_for

from oxbot.engine.engine import Engine
from oxbot.engine.messages import Command, CommandDone


class Harness:
    """An engine running on the current loop, with helpers to command it and wait."""

    drain_timeout: float = 60  # default of drain(); a folder's subclass may allow longer
    poll_s: float = 0.1  # how long drain() waits for one event before checking again

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sub = engine.bus.subscribe(maxsize=1_000_000)
        self.events: list[Any] = []
        self.task: asyncio.Task[None] | None = None
        self._n = 0

    async def start(self) -> None:
        self.task = asyncio.create_task(self.engine.run())
        await asyncio.wait_for(self.engine.ready.wait(), 30)

    async def do(self, cmd: Command, timeout: float = 30) -> CommandDone:
        self._n += 1
        cmd = replace(cmd, request_id=f"r{self._n}")
        self.engine.submit(cmd)
        while True:
            ev = await asyncio.wait_for(self.sub.get(), timeout)
            self.events.append(ev)
            if isinstance(ev, CommandDone) and ev.request_id == cmd.request_id:
                return ev

    async def drain(
        self, until: Callable[[], bool], timeout: float | None = None, what: str | None = None
    ) -> None:
        """Keep every event the engine publishes until ``until()`` holds."""

        async def next_event() -> None:
            try:
                self.events.append(await asyncio.wait_for(self.sub.get(), self.poll_s))
            except TimeoutError:
                pass

        await wait_for(
            until,
            self.drain_timeout if timeout is None else timeout,
            what or describe(until),
            pause=next_event,
        )

    async def finish_market(self, timeout: float = 60) -> None:
        """Wait until every sim stream ran out of candles and every bot emptied its inbox."""
        hub = self.engine.hub
        await self.drain(
            lambda: bool(hub._streams) and all(s.ended for s in hub._streams.values()), timeout
        )
        for r in self.engine.runners.values():
            await asyncio.wait_for(r.inbox.join(), timeout)
        await self.drain(lambda: self.sub.queue.empty(), timeout)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def stop(self) -> None:
        """Stop the engine (idempotent: teardown calls it again after a failed test)."""
        if self.task is None:
            return
        task, self.task = self.task, None
        if not task.done():
            self.engine.request_stop()
        await asyncio.wait_for(task, 30)
        while not self.sub.queue.empty():
            self.events.append(self.sub.queue.get_nowait())
