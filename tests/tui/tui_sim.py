"""Helpers for tests against the REAL engine on the seeded sim market (loaded by conftest)."""

from __future__ import annotations

import math
from pathlib import Path

from waiting import wait_for

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SIM_T0 = T0  # the seeded sim's first live candle opens here (a fixed virtual time)


def sim_bots(n: int = 2, *, running: bool = True) -> list:
    """Rule bots on the seeded sim market: even ones on BTC, odd ones on ETH+SOL."""
    from oxbot.engine.models import BotConfig

    return [
        BotConfig(
            name=f"bot{i:02d}",
            symbols=("BTC/USDT",) if i % 2 == 0 else ("ETH/USDT", "SOL/USDT"),
            strategy="sma_cross",
            params={"fast": 5, "slow": 20},
        )
        for i in range(n)
    ]


async def settle(pilot, candles: int, timeout: float = 20.0) -> None:
    """Wait until the sim has played every candle and the UI has drawn the last of it."""
    app = pilot.app
    end = SIM_T0 + candles * 60_000
    before = [-1]  # engine_ts at the last look: the sim is done when it stopped moving

    async def step() -> None:
        before[0] = app.state.engine_ts
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()

    def finished() -> bool:
        return app.state.engine_ts >= end and app.state.engine_ts == before[0]

    await step()
    await wait_for(
        finished,
        timeout,
        f"the sim to play {candles} candles",
        pause=step,
        detail=lambda: f"at candle {(app.state.engine_ts - SIM_T0) / 60_000:.0f}",
    )
    await pilot.pause(0.2)
    app.dashboard.redraw_all()  # the chart and the table redraw on timers: draw them now
    await pilot.pause(0.3)
    app.clear_notifications()  # toasts expire on wall time: keep them out of pictures
    for inp in app.screen.query("Input"):
        inp.cursor_blink = False
    await pilot.pause(0.05)


async def wait_until(pilot, ready, what: str, timeout: float = 20.0, detail=None) -> None:
    """Pause until ready() holds: a condition, never a guess at how long a loaded machine takes.
    The app draws between checks (pilot.pause)."""
    await wait_for(ready, timeout, what, pause=lambda: pilot.pause(0.05), detail=detail)


async def open_dialog(pilot, screen_name: str, *keys: str) -> None:
    """Wait until the dashboard lists its bots, press keys, and wait until the dialog is up and
    drawn: the same picture on a fast laptop and on a loaded CI machine."""
    app = pilot.app
    from oxbot.tui.widgets.bots_table import BotsTable

    table = app.dashboard.query_one(BotsTable)
    await wait_until(pilot, lambda: table.selected is not None, "the bots table to fill")
    await pilot.pause(0.1)
    if keys:
        await pilot.press(*keys)
    await wait_until(
        pilot, lambda: type(app.screen).__name__ == screen_name, f"the {screen_name} dialog"
    )
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)
    for inp in app.screen.query("Input"):
        inp.cursor_blink = False
    await pilot.pause(0.05)


CSV_T0 = 1_704_067_200_000  # 2024-01-01 UTC


def write_csv(path: Path, bars: int) -> Path:
    """A deterministic wave with a drift: sma_cross trades on it several times."""
    lines = ["timestamp,open,high,low,close,volume"]
    prev = 100.0
    for i in range(bars):
        close = 100 + 10 * math.sin(i / 15) + i * 0.02
        lines.append(
            f"{CSV_T0 + i * 3_600_000},{prev:.2f},{max(prev, close) + 0.5:.2f},"
            f"{min(prev, close) - 0.5:.2f},{close:.2f},10"
        )
        prev = close
    path.write_text("\n".join(lines) + "\n")
    return path
