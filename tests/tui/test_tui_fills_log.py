"""The Fills panel is a tail: it follows the newest fill in the frame it arrives, but a trader
who scrolled back to read an old fill is not yanked to the bottom by the next one."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App, ComposeResult

from oxbot.engine.messages import OrderFilled
from oxbot.tui.widgets.fills_log import FillsLog


def _fills(n: int) -> list[OrderFilled]:
    return [OrderFilled(ts=1_700_000_000_000 + i * 60_000, bot=f"bot{i:02d}",
                        symbol="BTC/USDT", side="buy" if i % 2 else "sell",
                        qty=Decimal("0.01"), price=Decimal(60_000 + i)) for i in range(n)]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FillsLog(id="fills")


async def test_the_log_follows_new_fills_unless_scrolled_back() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 8)) as pilot:
        log = app.query_one(FillsLog)
        fills = _fills(40)
        log.show(fills[:30], 30)
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # newest in view

        log.show(fills[:32], 32)  # while following: still at the newest, at once
        assert log.scroll_y == log.max_scroll_y
        assert "bot31" in log.lines[-1].text

        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        log.show(fills[:35], 35)  # reading old fills: stays where the reader is
        await pilot.pause()
        assert log.scroll_y == 0 and "bot34" in log.lines[-1].text

        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        log.show(fills, 40)  # back at the bottom: follows again
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y and "bot39" in log.lines[-1].text
