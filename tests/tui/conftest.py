"""Fixtures for the TUI tests: a fixed clock, the scripted client double, determinism."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from module_loading import load_by_path

# importlib mode cannot import sibling test modules: register them by path, once.
_HERE = Path(__file__).parent
doubles = load_by_path("tui_doubles", _HERE / "tui_doubles.py")
tui_sim = load_by_path("tui_sim", _HERE / "tui_sim.py")
pilot_helpers = load_by_path("tui_pilot", _HERE / "tui_pilot.py")


@pytest.fixture(autouse=True)
def _record_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every toast kept for tui_pilot.notifications(app)."""
    pilot_helpers.record_notifications(monkeypatch)


class FixedClock:
    def __init__(self, ms: int = doubles.T0 + 90_000) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


@pytest.fixture
def fixed_clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def scripted_client():
    from oxbot.engine import messages as m
    from oxbot.engine.models import BotStatus

    bots = [
        doubles.bot_view("alpha", equity="10250.50", positions=1, trades=4),
        doubles.bot_view(
            "beta", BotStatus.STOPPED, equity="9900", strategy="rsi_reversion", trades=2
        ),
    ]
    positions = [
        m.PositionView(
            "alpha",
            "BTC/USDT",
            "long",
            Decimal("0.05"),
            Decimal("60000"),
            Decimal("61000"),
            Decimal("50"),
            Decimal("57900"),
            Decimal("64200"),
        )
    ]
    return doubles.ScriptedEngineClient(bots, positions)


@pytest.fixture
def sim_client(tmp_path):
    """Factory: an InProcessClient running the REAL Engine on the seeded sim market at max
    speed, with a finite number of candles (so the final picture is deterministic) and a temp
    database holding ``bots`` (running unless told otherwise)."""
    from oxbot.app.inprocess import InProcessClient
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.engine.models import BotStatus
    from oxbot.storage.store import Store

    clients = []

    def make(bots: list, candles: int = 60, *, running: bool = True):
        opts = RuntimeOptions(
            db_path=tmp_path / f"oxbot{len(clients)}.db",
            sim=SimConfig(seed=7, speed=None, max_candles=candles, start_ts=tui_sim.SIM_T0),
            key_resolver=lambda _name: None,
            snapshot_every_s=None,
        )

        async def factory():
            store = await Store.open(opts.db_path)
            for cfg in bots:
                await store.save_bot(cfg, BotStatus.RUNNING if running else BotStatus.STOPPED)
            return await build_engine(opts, store=store)

        client = InProcessClient(factory)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.stop(10.0)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    """Same picture on every machine. (Textual reads TEXTUAL_ANIMATIONS at import, so snapshot
    tests also set ``app.animation_level = "none"`` on their apps.)"""
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("TZ", "UTC")
