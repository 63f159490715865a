"""Fixtures for the exchange tests: the fake Binance server, clients pointed at it, an in-memory
order journal. Helper modules of this directory are loaded by path (importlib mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

_HERE = Path(__file__).parent

fake_binance = load_by_path("_oxbot_exchange_tests_fake_binance", _HERE / "fake_binance.py")
memory_journal = load_by_path("_oxbot_exchange_tests_memory_journal", _HERE / "memory_journal.py")


@pytest.fixture
def fake_mod() -> Any:
    return fake_binance


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    server = fake_binance.FakeBinance(
        klines=fake_binance.generated_klines(1_700_000_000_000 - 300 * 60_000, 300)
    )
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

    reg = ExchangeClients(
        config={"binance": {"timeout": 2000, "rateLimit": 1}},
        configure=configure,
        sleep=record_sleep,
        breaker_threshold=50,
    )
    yield reg
    await reg.close_all()


@pytest.fixture
def creds() -> Any:
    from oxbot.engine.exchange.clients import Credentials

    return Credentials(fake_binance.API_KEY, fake_binance.SECRET)


@pytest.fixture
def journal() -> Any:
    return memory_journal.MemoryJournal()
