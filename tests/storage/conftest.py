"""Fixtures of the storage tests: an isolated OXBOT_HOME, a temp database, domain factories."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from postgres import database

from oxbot.engine.models import (
    BotConfig,
    BotStatus,
    DecisionRecord,
    EquityPoint,
    Fill,
    Order,
    OrderReason,
    OrderStatus,
    Position,
    Side,
)
from oxbot.storage.store import Store

D = Decimal


class Make:
    """Builders of domain objects with sensible defaults (override what a test is about)."""

    @staticmethod
    def config(name: str = "alpha", **kw: object) -> BotConfig:
        return BotConfig(name=name, **kw)  # type: ignore[arg-type]

    @staticmethod
    def order(coid: str = "o1", bot: str = "alpha", **kw: object) -> Order:
        base: dict[str, object] = dict(
            client_order_id=coid,
            bot=bot,
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=D("0.1"),
            reason=OrderReason.ENTRY,
            status=OrderStatus.FILLED,
            ts=1_000,
        )
        base.update(kw)
        return Order(**base)  # type: ignore[arg-type]

    @staticmethod
    def fill(fill_id: str = "f1", coid: str = "o1", bot: str = "alpha", **kw: object) -> Fill:
        base: dict[str, object] = dict(
            fill_id=fill_id,
            client_order_id=coid,
            bot=bot,
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=D("0.1"),
            price=D("42000.5"),
            fee=D("4.20005"),
            ts=1_000,
        )
        base.update(kw)
        return Fill(**base)  # type: ignore[arg-type]

    @staticmethod
    def position(symbol: str = "BTC/USDT", **kw: object) -> Position:
        base: dict[str, object] = dict(
            symbol=symbol,
            qty=D("0.1"),
            avg_entry=D("42000.5"),
            stop_loss=D("40530.48"),
            take_profit=D("44940.535"),
            opened_ts=1_000,
        )
        base.update(kw)
        return Position(**base)  # type: ignore[arg-type]

    @staticmethod
    def decision(bot: str = "alpha", ts: int = 1_000, **kw: object) -> DecisionRecord:
        return DecisionRecord(bot=bot, ts=ts, source="rule", actions="BTC/USDT:buy", **kw)  # type: ignore[arg-type]

    @staticmethod
    def equity(
        bot: str = "alpha", ts: int = 1_000, equity: str = "10000", cash: str = "5799.95"
    ) -> EquityPoint:
        return EquityPoint(bot=bot, ts=ts, equity=D(equity), cash=D(cash))


@pytest.fixture
def make() -> type[Make]:
    return Make


@pytest.fixture(autouse=True)
def oxbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own OXBOT_HOME: nothing touches the user's real folders."""
    home = tmp_path / "home"
    monkeypatch.setenv("OXBOT_HOME", str(home))
    monkeypatch.delenv("OXBOT_DB", raising=False)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger" / "oxbot.db"


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, db_path: Path) -> Path | str:
    """The database of the test: ``db_path``, or a fresh PostgreSQL database's URL for the
    tests marked both_backends (tests/support/postgres.py)."""
    return database(request, backend, db_path)


@pytest.fixture
async def store(db: Path | str) -> AsyncIterator[Store]:
    """A writer Store with the bot "alpha" saved."""
    s = await Store.open(db)
    await s.save_bot(Make.config("alpha"), BotStatus.RUNNING)
    try:
        yield s
    finally:
        await s.close()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sha256() -> object:
    return file_hash


class Holder:
    """A child Python process that runs ``code`` and waits until it prints READY."""

    def __init__(self, code: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"holder failed to start: {line!r} {err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def spawn_holder() -> Iterator[type[Holder]]:
    started: list[Holder] = []

    class _Tracked(Holder):
        def __init__(self, code: str) -> None:
            super().__init__(code)
            started.append(self)

    yield _Tracked
    for h in started:
        h.stop()
