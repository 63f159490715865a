"""The top line: PAPER/LIVE banner, total equity, today's P&L, engine state, clock."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from oxbot.remote.client import DISCONNECTED

from .. import formatting as fmt
from ..palette import colour
from .static_text import update_static


class HeaderBar(Horizontal):
    """Reads nothing itself: `show(...)` is called by the dashboard with fresh values."""

    def compose(self) -> ComposeResult:
        yield Static("PAPER", id="mode-banner", classes="paper")
        yield Static("", id="header-figures")
        yield Static("", id="header-clock")

    def show(
        self,
        *,
        live: str,
        bots: int,
        running: int,
        equity: Decimal,
        pnl_today: Decimal,
        engine_state: str,
        clock_ms: int,
        market_ms: int = 0,
        attached: str = "",
        feeds: Mapping[str, str] | None = None,
        elsewhere: int = 0,
    ) -> None:
        """``attached``: where the engine runs when it is another process ("" in-process);
        ``elsewhere``: bots other engines of a shared database run (not counted as running);
        ``feeds``: how each exchange's market data arrives ("ws", "rest (ws down: ...)")."""
        # live: "active" (a LIVE bot runs or holds positions), "stopped" or "" (paper only)
        banner = self.query_one("#mode-banner", Static)
        update_static(
            banner,
            {"active": " ⚠ LIVE — REAL MONEY ", "stopped": " LIVE (stopped) "}.get(live, " PAPER "),
        )
        banner.set_class(live == "active", "live")
        banner.set_class(live == "stopped", "live-stopped")
        banner.set_class(not live, "paper")
        pnl_pct = (pnl_today / (equity - pnl_today) * 100) if equity - pnl_today else Decimal(0)
        figures = Text()
        figures.append(" Equity ", style="dim")
        figures.append(fmt.money(equity), style="bold")
        figures.append("  Today ", style="dim")
        figures.append(
            f"{fmt.signed_money(pnl_today)} ({fmt.signed_pct(pnl_pct)})",
            style=f"bold {colour(self.app, fmt.pnl_variable(pnl_today))}",
        )
        figures.append("  engine ", style="dim")
        figures.append(engine_state, style="bold")
        if engine_state != DISCONNECTED:  # else nobody knows what runs now
            figures.append(f"  bots {running}/{bots} running", style="dim")
            if elsewhere:  # several engines on one PostgreSQL database: theirs, said apart
                figures.append(f" +{elsewhere} on other engines", style="dim")
        for exchange, feed in sorted((feeds or {}).items()):
            # which feed only ("ws", "rest"), in the warning colour while the websocket is down;
            # the reason is in the notice and the log
            figures.append(f"  {exchange}: ", style="dim")
            warn = colour(self.app, "warning") if "ws down" in feed else ""
            figures.append(feed.split(" ")[0], style=f"bold {warn}".strip())
        if attached:  # last: a fast sim's market clock leaves it the least room
            figures.append(f"  attached: {attached}", style="bold")
        update_static(self.query_one("#header-figures", Static), figures)
        clock = fmt.clock_text(clock_ms)
        if market_ms and abs(market_ms - clock_ms) > 120_000:
            # a replay or fast sim: its time is not the wall clock; say so (both when room)
            market = f"market {fmt.hhmm(market_ms)}"
            clock = market if self.has_class("narrow") else f"{market} · {clock}"
        update_static(self.query_one("#header-clock", Static), clock)
