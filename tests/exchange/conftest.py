"""Fixtures for the exchange tests: the fake Binance server, clients pointed at it, an in-memory
order journal. Helper modules of this directory are loaded by path (importlib mode)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).parent


def _load(name: str) -> Any:
    key = f"_oxbot_exchange_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, _HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


fake_binance = _load("fake_binance")
memory_journal = _load("memory_journal")


@pytest.fixture
def fake_mod() -> Any:
    return fake_binance


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    server = fake_binance.FakeBinance(
        klines=fake_binance.generated_klines(1_700_000_000_000 - 300 * 60_000, 300))
    await server.start()
    yield server
    await server.stop()


async def _no_sleep(_s: float) -> None:
    return None


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def clients(fake: Any, sleeps: list[float]) -> AsyncIterator[Any]:
    from oxbot.engine.exchange.clients import ExchangeClients, point_at

    async def record_sleep(s: float) -> None:
        sleeps.append(s)

    def configure(client: Any) -> None:
        point_at(client, fake.base_url)
        client.timeout_on_exit = 0  # ccxt sleeps 250 ms in close(); no need against 127.0.0.1

    reg = ExchangeClients(config={"binance": {"timeout": 2000, "rateLimit": 1}},
                          configure=configure, sleep=record_sleep, breaker_threshold=50)
    yield reg
    await reg.close_all()


@pytest.fixture
def creds() -> Any:
    from oxbot.engine.exchange.clients import Credentials

    return Credentials(fake_binance.API_KEY, fake_binance.SECRET)


@pytest.fixture
def journal() -> Any:
    return memory_journal.MemoryJournal()
