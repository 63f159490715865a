"""Fixtures for the control-socket tests: a FakeEngine with the Engine's public surface (the bus is
the real EventBus) and short socket directories under /tmp (Unix socket paths must stay short).

FakeEngine exists only here, for tests: it answers StartBot/StopBot/RequestSnapshot/Shutdown the
way the engine's contract says (a CommandDone per command, events on the bus).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oxbot.engine.bus import EventBus
from oxbot.engine.messages import (
    BotStateChanged,
    BotView,
    Command,
    CommandDone,
    EngineSnapshot,
    Event,
    RequestSnapshot,
    Shutdown,
    StartBot,
    StopBot,
)
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.remote.codec import decode, encode
from oxbot.remote.server import ControlServer


def make_bot(name: str, status: BotStatus = BotStatus.STOPPED) -> BotView:
    return BotView(
        name=name,
        config=BotConfig(name=name),
        status=status,
        cash=Decimal("10000.00"),
        equity=Decimal("10012.50"),
        start_equity=Decimal("10000"),
        day_start_equity=Decimal("10000"),
        realised=Decimal("12.50"),
        fees=Decimal("0.75"),
        open_positions=0,
        trades=3,
        cycles=40,
        errors=0,
        last_decision_ts=None,
        next_cycle_ts=None,
    )


class FakeEngine:
    """The Engine surface the control server relies on (tests only)."""

    def __init__(self, bots: tuple[str, ...] = ("alpha", "beta"), honour_shutdown: bool = True):
        self.bus = EventBus()
        self.bots = {name: make_bot(name) for name in bots}
        self.submitted: list[Command] = []
        self.stop_requested = asyncio.Event()
        self.honour_shutdown = honour_shutdown
        self.ts = 1_000

    def _done(self, cmd: Command, ok: bool = True, message: str = "") -> None:
        self.bus.publish(
            CommandDone(
                ts=self.ts,
                request_id=cmd.request_id,
                command=type(cmd).__name__,
                ok=ok,
                message=message,
            )
        )

    def submit(self, cmd: Command) -> None:
        self.submitted.append(cmd)
        if isinstance(cmd, StartBot | StopBot):
            bot = self.bots.get(cmd.name)
            if bot is None:
                self._done(cmd, ok=False, message=f"no bot named {cmd.name!r}")
                return
            status = BotStatus.RUNNING if isinstance(cmd, StartBot) else BotStatus.STOPPED
            import dataclasses  # noqa: PLC0415

            self.bots[cmd.name] = dataclasses.replace(bot, status=status)
            self.bus.publish(BotStateChanged(ts=self.ts, bot=self.bots[cmd.name]))
            self._done(cmd)
        elif isinstance(cmd, RequestSnapshot):
            self.bus.publish(self.snapshot())
            self._done(cmd)
        elif isinstance(cmd, Shutdown):
            self._done(cmd)
            if self.honour_shutdown:
                self.request_stop()
        else:
            self._done(cmd, ok=False, message=f"{type(cmd).__name__} not supported by FakeEngine")

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(ts=self.ts, state="running", bots=tuple(self.bots.values()))

    def status_summary(self) -> dict[str, Any]:
        running = sum(b.status is BotStatus.RUNNING for b in self.bots.values())
        return {
            "uptime_s": 3725,
            "bots_running": running,
            "bots_total": len(self.bots),
            "cycles": 80,
            "trades": 6,
            "equity": "20025.00",
            "errors": 0,
            "db": "/tmp/x/oxbot.db",
        }

    def request_stop(self) -> None:
        self.stop_requested.set()


class LineClient:
    """A raw asyncio client speaking JSON lines, as any front end would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, path: Path, limit: int = 16 * 1024 * 1024) -> LineClient:
        # A small limit makes the client's transport stop reading early: a truly stalled peer.
        reader, writer = await asyncio.open_unix_connection(str(path), limit=limit)
        return cls(reader, writer)

    async def send(self, msg: Command | Event) -> None:
        self.writer.write(encode(msg).encode())
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next(self, timeout: float = 5.0) -> Command | Event:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("the server closed the connection")
        return decode(line)

    async def next_of(self, kind: type, timeout: float = 5.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.next(timeout)
                if isinstance(msg, kind):
                    return msg

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="oxr", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
async def server(engine: FakeEngine, sock_dir: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(engine, sock_dir / "run" / "engine.sock")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
def fake_engine_cls() -> type[FakeEngine]:
    """The FakeEngine class, for tests that need one configured differently."""
    return FakeEngine


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    """``await connect(path)`` -> LineClient; every client is closed after the test."""
    clients: list[LineClient] = []

    async def _connect(path: Path, limit: int = 16 * 1024 * 1024) -> LineClient:
        client = await LineClient.connect(path, limit)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()
