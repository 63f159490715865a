"""The header says which feed each exchange's market data comes by (MarketFeed events from
engine/market/ccxt_streams.py): "binance: ws", "binance: rest" (in the warning colour when the
websocket is down; the reason is in the notice and the log)."""

from __future__ import annotations

import tui_doubles as d
from tui_pilot import ready, screen_text

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp


async def test_header_shows_each_exchange_feed(fixed_clock):
    client = d.ScriptedEngineClient([d.bot_view("alpha")])
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "binance:" not in screen_text(app).splitlines()[0]
        client.emit(m.MarketFeed(0, "binance", "ws"))
        await pilot.pause(0.3)
        assert "binance: ws" in screen_text(app).splitlines()[0]
        client.emit(m.MarketFeed(0, "binance", "rest (ws down: watch failed: 503)"))
        await pilot.pause(0.3)
        header = screen_text(app).splitlines()[0]
        assert "binance: rest" in header and "503" not in header
        assert app.state.feeds == {"binance": "rest (ws down: watch failed: 503)"}
        client.emit(m.MarketFeed(0, "binance", ""))  # no stream of it runs any more
        await pilot.pause(0.3)
        assert "binance:" not in screen_text(app).splitlines()[0] and app.state.feeds == {}
