"""Shared fixtures for engine tests: a real Store on a temp file and an engine runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import engine_harness
import pytest
from postgres import database

from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.storage.store import Store

START = 1_700_000_000_000  # fixed virtual start: deterministic candles


class Harness(engine_harness.Harness):
    """The shared engine harness (tests/support/engine_harness.py); whole-engine runs here
    get longer to reach a condition."""

    drain_timeout = 120
    poll_s = 0.2


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "oxbot.db"


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, db_path: Path) -> Path | str:
    """``db_path``, or a fresh PostgreSQL database's URL for the tests marked both_backends."""
    return database(request, backend, db_path)


@pytest.fixture
async def store(db: Path | str) -> AsyncIterator[Store]:
    s = await Store.open(db)
    yield s
    await s.close()


def make_engine(store: Any, *, max_candles: int | None = 300, seed: int = 3, **kw: Any) -> Engine:
    hub = MarketHub(SimConfig(seed=seed, start_ts=START, speed=None, max_candles=max_candles))
    return Engine(store, hub, snapshot_every_s=None, **kw)
