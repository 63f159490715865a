"""Fixtures for the exchange end-to-end tests: the fake Binance on a fast clock, and the real
engine built by the real composition root (tui.runtime.build_engine) on a temp-file Store.
Helper modules of this directory are loaded by path (importlib mode)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path
from waiting import describe, wait_for

_HERE = Path(__file__).parent

support = load_by_path("_oxbot_exchange_e2e_e2e_support", _HERE / "e2e_support.py")


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home of the test's own (settings, data, logs), for the scripted LIVE tests."""
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))


@pytest.fixture
def sup() -> Any:
    return support


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """The fake exchange; one 1m candle closes every 0.1 s of wall time."""
    server = support.ClockedFake(clock=support.SpeedClock(speed=600))
    server.api_key += secrets.token_hex(6)  # key locks are per key: tests must not share one
    server.retry_after_s = 0
    server.stall_s = 0.15
    await server.start()
    yield server
    await server.stop()


class EngineRun:
    """The engine of ``build_engine`` running on the current loop; every event kept."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.events: list[Any] = []
        engine.bus.listen(self.events.append)
        self.task: asyncio.Task[None] | None = None
        self._n = 0

    async def start(self) -> None:
        self.task = asyncio.create_task(self.engine.run())
        await asyncio.wait_for(self.engine.ready.wait(), 30)

    async def do(self, cmd: Any, timeout: float = 30) -> Any:
        from oxbot.engine.messages import CommandDone

        self._n += 1
        cmd = replace(cmd, request_id=f"e2e{self._n}")
        self.engine.submit(cmd)
        await self.wait(
            lambda: any(
                isinstance(e, CommandDone) and e.request_id == cmd.request_id for e in self.events
            ),
            timeout,
        )
        return next(
            e for e in self.events if isinstance(e, CommandDone) and e.request_id == cmd.request_id
        )

    async def wait(
        self, cond: Callable[[], bool], timeout: float = 30, what: str | None = None
    ) -> None:
        """Wait until cond() holds; fail at once if the engine stopped meanwhile."""

        def holds() -> bool:
            if self.task is not None and self.task.done():
                self.task.result()
                raise AssertionError("engine stopped")
            return cond()

        await wait_for(holds, timeout, what or describe(cond))

    def notices(self, text: str = "") -> list[str]:
        from oxbot.engine.messages import Notice

        return [e.message for e in self.events if isinstance(e, Notice) and text in e.message]

    async def stop(self) -> None:
        self.engine.request_stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)


campaign = load_by_path("_oxbot_exchange_e2e_campaign", _HERE / "campaign.py")


@pytest.fixture
def camp() -> Any:
    return campaign


@pytest.fixture
async def run_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    """``await run_engine(fake, **settings)`` -> a started EngineRun (stopped at teardown),
    configured as a user configures oxbot: settings.json's ``exchanges`` entry for the fake's
    exchange (``settings`` adds or overrides its keys, e.g. ``breaker_after=3``) and the key in
    OXBOT_<EXCHANGE>_* environment variables. The composition root is the real one."""
    from oxbot.app.runtime import RuntimeOptions, build_engine, exchange_options
    from oxbot.storage.store import Store

    runs: list[tuple[EngineRun, Any]] = []

    async def start(fake: Any, db_name: str = "oxbot.db", **settings: Any) -> EngineRun:
        for key, value in campaign.key_env(fake).items():
            monkeypatch.setenv(key, value)
        path = campaign.write_settings(tmp_path / "home", fake, **settings)
        opts = RuntimeOptions(
            db_path=tmp_path / db_name, snapshot_every_s=None, **exchange_options(path)
        )
        assert not opts.exchanges_error, opts.exchanges_error
        for old, old_store in runs:  # a restart: the stopped engine lets go of the database
            if old.task is not None and old.task.done() and old_store.path == opts.db_path:
                await old_store.close()
        store = await Store.open(opts.db_path)
        engine = await build_engine(opts, store=store)
        run = EngineRun(engine)
        runs.append((run, store))
        await run.start()
        return run

    yield start
    for run, store in runs:
        if run.task is not None and not run.task.done():
            await run.stop()
        await store.close()
