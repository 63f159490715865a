"""Shared fixtures for engine tests: a real Store on a temp file and an engine runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import Command, CommandDone
from oxbot.storage.store import Store

START = 1_700_000_000_000  # fixed virtual start: deterministic candles


class Harness:
    """An engine running on the current loop, with helpers to command it and wait."""

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
        from dataclasses import replace

        self._n += 1
        cmd = replace(cmd, request_id=f"r{self._n}")
        self.engine.submit(cmd)
        while True:
            ev = await asyncio.wait_for(self.sub.get(), timeout)
            self.events.append(ev)
            if isinstance(ev, CommandDone) and ev.request_id == cmd.request_id:
                return ev

    async def drain(self, until: Callable[[], bool], timeout: float = 120) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not until():
            if loop.time() > end:
                raise TimeoutError("condition not reached")
            try:
                ev = await asyncio.wait_for(self.sub.get(), 0.2)
                self.events.append(ev)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self.engine.request_stop()
        if self.task:
            await asyncio.wait_for(self.task, 30)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "oxbot.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    yield s
    await s.close()


def make_engine(store: Any, *, max_candles: int | None = 300, seed: int = 3,
                **kw: Any) -> Engine:
    hub = MarketHub(SimConfig(seed=seed, start_ts=START, speed=None, max_candles=max_candles))
    return Engine(store, hub, snapshot_every_s=None, **kw)
