"""The real collaborators fit the engine's ports (engine/ports.py): the Store is the ledger the
engine and its bots use, the MarketHub the market, the control server a service. A method
renamed on one side fails here, not as an AttributeError in a running engine."""

from __future__ import annotations

from typing import Any

from oxbot.engine.bus import EventBus
from oxbot.engine.clock import WallClock
from oxbot.engine.exchange.live import LiveBroker
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.ports import BotLedger, BrokerPort, Clock, EngineStore, Market, Service
from oxbot.engine.strategies import build_strategy
from oxbot.engine.strategies.base import Strategy
from oxbot.remote.server import ControlServer

from .conftest import make_engine


async def test_the_store_is_the_engine_store_and_the_bot_ledger(store: Any) -> None:
    assert isinstance(store, EngineStore)
    assert isinstance(store, BotLedger)
    assert store.write_failing is False


def test_the_market_hub_is_the_market() -> None:
    assert isinstance(MarketHub(), Market)


def test_the_live_broker_has_every_broker_method() -> None:
    missing = [
        m for m in BrokerPort.__protocol_attrs__ if not callable(getattr(LiveBroker, m, None))
    ]
    assert missing == []


async def test_the_control_server_is_a_service(store: Any, tmp_path: Any) -> None:
    engine = make_engine(store)
    assert isinstance(ControlServer(engine, tmp_path / "ctl.sock"), Service)


def test_the_wall_clock_is_a_clock() -> None:
    clock: Clock = WallClock()
    assert clock.now_ms() > 1_600_000_000_000


async def test_a_rule_strategy_answers_the_engine_with_defaults() -> None:
    """What the engine asks every strategy: a rule strategy has nothing to check or restore,
    and shows no figures."""
    s: Strategy = build_strategy("sma_cross", {"fast": 3, "slow": 8})
    s.check_setup()
    s.check_budget("bot")
    s.restore_history({"count": 3, "failures": 1}, ())
    assert s.stats == {}


def test_a_bus_is_not_a_store() -> None:
    """The checks above can fail: an object without the ledger's methods is not a store."""
    assert not isinstance(EventBus(), EngineStore)
    assert not isinstance(EventBus(), Market)
