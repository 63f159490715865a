"""The cockpit acts on the bot the user sees (issue 11, section 4), against the REAL engine in
this process (InProcessClient, the seeded sim market at 600x: a candle every 0.1 s).

- After Tab, j/k still move the highlighted bot; enter, x, s, space, f and d act on it (or ask
  about it); focus is said in words.
- PANIC: while its question is open no bot decides; it answers at once although another bot's
  order is in flight at an exchange that has not answered (a broker whose execute waits on an
  event: the engine's loop really awaits it), and the count it showed is what it closed.
- Stopping a bot with positions asks keep or close (the bot's on_stop is the default); kept
  positions show SL/TP "not watched".
- q asks while bots run in this process.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tui_pilot import notifications, screen_text
from tui_sim import SIM_T0, wait_until

from oxbot.app.inprocess import InProcessClient
from oxbot.engine import messages as m
from oxbot.engine.broker import Broker, Execution
from oxbot.engine.engine import Engine
from oxbot.engine.market.hub import MarketHub
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.models import BotConfig, BotStatus, OrderIntent
from oxbot.engine.paper import PaperBroker
from oxbot.engine.strategies import REGISTRY, Strategy, build_strategy
from oxbot.engine.strategies.base import ENTER, NONE
from oxbot.storage.store import Store
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.stop_dialogs import PanicScreen, QuitScreen, StopBotScreen
from oxbot.tui.widgets.bots_table import BotsTable


class AlwaysBuy(Strategy):
    name = "always_buy"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


class NeverTrade(Strategy):
    """Holds on every candle, however long the test runs (sma_cross ends its warm-up after
    its slow window: on a loaded machine the sim market gets that far)."""

    name = "never"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), NONE, dtype=np.int8)


class GatedBroker(PaperBroker):
    """Paper fills; once ``armed`` an order waits for ``gate`` (an exchange not answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.gate = asyncio.Event()
        self.waiting = False

    async def execute(self, intent: OrderIntent, ref_price: Decimal, ts: int) -> Execution:
        if self.armed and not self.gate.is_set():
            self.waiting = True
            await self.gate.wait()
        return await super().execute(intent, ref_price, ts)


OWN: dict[str, type[Strategy]] = {"always_buy": AlwaysBuy, "never": NeverTrade}


def cfg(name: str, strategy: str = "never", **kw: Any) -> BotConfig:
    return BotConfig(name=name, strategy=strategy, **kw)


@pytest.fixture
def engine_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Factory: an InProcessClient running the REAL Engine (sim at 600x) with ``bots``
    running; ``brokers`` maps a bot name to its broker (default: paper)."""
    for name, cls in OWN.items():  # known to the bot form as well
        monkeypatch.setitem(REGISTRY, name, cls)
    clients: list[InProcessClient] = []

    def make(bots: list[BotConfig], brokers: dict[str, Broker] | None = None) -> InProcessClient:
        def strategies(config: BotConfig) -> Strategy:
            if config.strategy in OWN:
                return OWN[config.strategy]()
            return build_strategy(config.strategy, config.params)

        def broker_for(config: BotConfig) -> Broker:
            return (brokers or {}).get(config.name) or PaperBroker(config.fee_rate)

        async def factory() -> Engine:
            store = await Store.open(tmp_path / f"cockpit{len(clients)}.db")
            for bot in bots:
                await store.save_bot(bot, BotStatus.RUNNING)
            hub = MarketHub(SimConfig(seed=7, speed=600, start_ts=SIM_T0))
            return Engine(
                store,
                hub,
                strategy_factory=strategies,
                broker_factory=broker_for,
                snapshot_every_s=None,
            )

        client = InProcessClient(factory)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop(10.0)


def running(client: InProcessClient) -> dict[str, BotStatus]:
    assert client.engine is not None
    return {n: r.status for n, r in client.engine.runners.items()}


def on_engine(client: InProcessClient, fn: Any) -> None:
    assert client._loop is not None  # noqa: SLF001 - the engine's loop, to set its events
    client._loop.call_soon_threadsafe(fn)  # noqa: SLF001


async def test_after_tab_keys_act_on_the_highlighted_bot_and_no_other(engine_client) -> None:
    client = engine_client([cfg("alpha"), cfg("beta"), cfg("gamma")])
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.dashboard.query_one(BotsTable)
        await wait_until(
            pilot, lambda: table.row_count == 3 and table.selected == "alpha", "three bots listed"
        )
        await pilot.press("tab")  # the keyboard goes to the Positions panel
        assert app.focused is not table
        assert "focus" in str(app.focused.border_subtitle)  # said in words, not colour only
        await pilot.press("j")  # used to do nothing once the table had lost focus
        assert table.selected == "beta"
        assert "▸beta" in screen_text(app)
        await pilot.press("x")
        await wait_until(
            pilot, lambda: running(client)["beta"] is BotStatus.STOPPED, "beta stopped"
        )
        await pilot.pause(0.3)
        assert running(client) == {
            "alpha": BotStatus.RUNNING,
            "beta": BotStatus.STOPPED,
            "gamma": BotStatus.RUNNING,
        }
        await pilot.press("tab", "enter")  # another panel has focus: enter still configures
        await wait_until(pilot, lambda: type(app.screen).__name__ == "BotConfigScreen", "the form")
        assert "Configure beta" in screen_text(app)


async def test_after_tab_start_pause_flatten_and_delete_act_on_the_highlighted_bot(
    engine_client,
) -> None:
    """The other bot keys (space, f, x, s, d) with the Positions panel focused: each acts on
    (or asks about) the highlighted bot, and the others keep running."""
    client = engine_client([cfg("alpha"), cfg("beta", "always_buy"), cfg("gamma")])
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.dashboard.query_one(BotsTable)
        await wait_until(
            pilot, lambda: table.row_count == 3 and table.selected == "alpha", "three bots listed"
        )
        await pilot.press("tab", "j")
        assert app.focused is not table and table.selected == "beta"

        async def status_after(key: str, bot: str, want: BotStatus) -> None:
            assert app.focused is not table, f"{key}: the table took the focus back"
            await pilot.press(key)
            await wait_until(pilot, lambda: running(client)[bot] is want, f"{key}: {want}")
            others = {n: s for n, s in running(client).items() if n != bot}
            assert set(others.values()) == {BotStatus.RUNNING}, others

        await status_after("space", "beta", BotStatus.PAUSED)
        await status_after("space", "beta", BotStatus.RUNNING)
        await wait_until(
            pilot,
            lambda: any(p.bot == "beta" for p in app.state.positions.values()),
            "beta holds a position",
        )
        await pilot.press("f")
        await wait_until(pilot, lambda: "Flatten beta?" in screen_text(app), "flatten asks")
        await pilot.press("escape")
        await pilot.pause(0.2)

        await pilot.press("k")
        assert table.selected == "alpha"
        await status_after("x", "alpha", BotStatus.STOPPED)
        await status_after("s", "alpha", BotStatus.RUNNING)
        assert app.focused is not table
        await pilot.press("d")
        await wait_until(pilot, lambda: "Delete bot alpha?" in screen_text(app), "delete asks")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: "alpha" not in running(client), "alpha deleted")
        assert running(client) == {"beta": BotStatus.RUNNING, "gamma": BotStatus.RUNNING}


async def test_panic_holds_decisions_and_answers_before_an_order_in_flight(engine_client) -> None:
    slow = GatedBroker()
    slow.armed = True  # its first order stays at the exchange, unanswered
    client = engine_client(
        [cfg("b", "always_buy"), cfg("c", "always_buy"), cfg("slow", "always_buy")], {"slow": slow}
    )
    decisions: list[m.DecisionMade] = []
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: client.engine is not None, "the engine")
        engine = client.engine
        assert engine is not None
        await wait_until(
            pilot,
            lambda: {p.bot for p in app.state.positions.values()} == {"b", "c"} and slow.waiting,
            "b and c hold, slow's buy in flight",
        )
        on_engine(
            client,
            lambda: engine.bus.listen(
                lambda e: decisions.append(e) if isinstance(e, m.DecisionMade) else None
            ),
        )

        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen), "the question")
        await wait_until(pilot, lambda: bool(engine.hold.reason()), "decisions held")
        seen = len(decisions)
        t0 = app.state.engine_ts
        await wait_until(
            pilot,
            lambda: app.state.engine_ts >= t0 + 10 * 60_000,
            "ten more candles behind the dialog",
        )
        assert len(decisions) == seen  # b and c decide on every candle otherwise
        body = str(app.screen.query_one("#dialog-body").render())
        assert "Stop 3 running or paused bots and close 2 open positions" in body, body

        await pilot.click("#confirm")
        await wait_until(
            pilot,
            lambda: any("PANIC done" in n.message for n in notifications(app)),
            "PANIC's answer",
        )
        done = next(n.message for n in notifications(app) if "PANIC done" in n.message)
        assert not slow.gate.is_set()  # answered while slow's order is still in flight
        # what the dialog said is what PANIC stopped and closed
        assert done.startswith("PANIC done: 3 bots stopped, 2 positions closed"), done
        assert "slow: an order is still in flight" in done
        on_engine(client, slow.gate.set)  # the exchange answers: the buy fills, then closes
        await wait_until(
            pilot,
            lambda: any(
                "slow's order in flight settled; 1 position closed" in n.message
                for n in notifications(app)
            ),
            "the late close",
        )
        await wait_until(pilot, lambda: not app.state.positions, "no position left")
        assert set(running(client).values()) == {BotStatus.STOPPED}
        assert not engine.hold.reason()


async def test_cancelling_panic_lets_the_bots_decide_again(engine_client) -> None:
    client = engine_client([cfg("b", "always_buy")])
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.state.positions), "a position")
        engine = client.engine
        assert engine is not None
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: bool(engine.hold.reason()), "decisions held")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not engine.hold.reason(), "the hold released")
        assert running(client) == {"b": BotStatus.RUNNING}


async def test_stop_with_positions_asks_and_kept_ones_are_not_watched(engine_client) -> None:
    client = engine_client(
        [cfg("keeper", "always_buy"), cfg("closer", "always_buy", on_stop="close")]
    )
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.dashboard.query_one(BotsTable)
        await wait_until(
            pilot,
            lambda: {p.bot for p in app.state.positions.values()} == {"keeper", "closer"},
            "both hold positions",
        )
        table.select_name("keeper")
        await wait_until(pilot, lambda: app.dashboard.selected == "keeper", "keeper selected")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, StopBotScreen), "the question")
        await wait_until(  # the default, focused once the question is mounted
            pilot, lambda: app.focused is not None and app.focused.id == "keep", "keep focused"
        )
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: running(client)["keeper"] is BotStatus.STOPPED, "keeper stopped"
        )
        assert any(p.bot == "keeper" for p in app.state.positions.values())
        table.select_name("keeper")
        try:
            await wait_until(pilot, lambda: "not watched" in screen_text(app), "not watched", 40)
        except AssertionError as e:  # say what the screen and the state showed instead
            kept = [p for p in app.state.positions.values() if p.bot == "keeper"]
            raise AssertionError(
                f"{e}; selected {app.dashboard.selected}, unwatched "
                f"{app.state.unwatched_bots()}, keeper's positions {kept}\n"
                f"{screen_text(app)}"
            ) from None

        table.select_name("closer")
        await wait_until(pilot, lambda: app.dashboard.selected == "closer", "closer selected")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, StopBotScreen), "the question")
        await wait_until(  # its on_stop setting
            pilot, lambda: app.focused is not None and app.focused.id == "close", "close focused"
        )
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: not any(p.bot == "closer" for p in app.state.positions.values()),
            "closer's positions closed",
        )
        assert running(client)["closer"] is BotStatus.STOPPED


async def test_q_asks_while_bots_run_in_this_cockpit(engine_client) -> None:
    client = engine_client([cfg("alpha")])
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot,
            lambda: (
                "alpha" in app.state.bots and app.state.bots["alpha"].status is BotStatus.RUNNING
            ),
            "alpha running",
        )
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        assert "1 bot running or paused" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.is_running and running(client) == {"alpha": BotStatus.RUNNING}
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: not app.is_running, "the app to quit")
    assert app.return_code == 0
