"""The dashboard: every bot, its positions, reasoning, equity and fills at a glance.

State lives in the app's DashboardState; this screen owns the selection and turns keys into
engine commands. Wide terminals show the four lower panels in a grid; small ones show one at a
time under a tab strip (1-4 or the mouse switch them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.events import DescendantBlur, DescendantFocus, Resize
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static, Tab, Tabs

from oxbot.remote.client import DISCONNECTED

from ..widgets.bots_table import BotsTable
from ..widgets.equity_chart import EquityChart
from ..widgets.fills_log import FillsLog
from ..widgets.fitting_footer import FittingFooter
from ..widgets.header_bar import HeaderBar
from ..widgets.positions_table import PositionsTable
from ..widgets.price_chart import PriceChart, from_events
from ..widgets.reasoning_panel import ReasoningPanel
from .bot_actions import BotActions

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine import messages as m
    from oxbot.engine.models import BotConfig

PANELS = (
    ("positions", "Positions"),
    ("reasoning", "Reasoning"),
    ("equity", "Equity"),
    ("fills", "Fills"),
)
COMPACT_WIDTH, COMPACT_HEIGHT = 110, 32
CHART_INTERVAL_S = 1.0
# The charts (plotext: ~12 ms to draw, the costliest panel) wait until no key, click or resize
# came for CHART_QUIET_S, so a run of j/k presses is not slowed by a chart per bot passed;
# never longer than CHART_STALE_S since the last chart drawn. Asked for by a key of its own
# (3, c, y), a chart is drawn at once.
CHART_QUIET_S = 0.25
CHART_STALE_S = 2.0
BOTS_INTERVAL_S = 0.33  # plotext redraws are the costliest thing on screen
FOCUS_HINT_BOTS = "focus: ↑↓ select"
FOCUS_HINT_PANEL = "focus: ↑↓ scroll · j/k select a bot"


class DashboardScreen(BotActions):
    BINDINGS = [
        Binding("n", "new_bot", "New", id="bot.new", tooltip="Create a bot"),
        Binding(
            "e",
            "configure",
            "Edit",
            id="bot.configure",
            tooltip="Edit the selected bot (enter works too)",
        ),
        Binding("s", "start", "Start", id="bot.start", tooltip="Start the selected bot"),
        Binding("x", "stop", "Stop", id="bot.stop", tooltip="Stop the selected bot"),
        Binding(
            "space",
            "pause",
            "Pause",
            id="bot.pause",
            key_display="␣",
            tooltip="Pause the selected bot",
        ),
        Binding(
            "space",
            "resume",
            "Resume",
            id="bot.resume",
            key_display="␣",
            tooltip="Resume the selected (paused) bot",
        ),
        Binding(
            "f",
            "flatten",
            "Flatten",
            id="bot.flatten",
            tooltip="Close the selected bot's positions (asks first)",
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="bot.delete",
            tooltip="Delete the selected bot (asks first; history kept)",
        ),
        # Moving between bots: j/k whatever has focus; the arrows, home and end when no panel
        # that scrolls has focus (a focused panel scrolls with them, and says so).
        Binding(
            "down,j",
            "bot_cursor(1)",
            "Down",
            show=False,
            id="bots.down",
            tooltip="Select the next bot (j works whatever has focus)",
        ),
        Binding(
            "up,k",
            "bot_cursor(-1)",
            "Up",
            show=False,
            id="bots.up",
            tooltip="Select the previous bot (k works whatever has focus)",
        ),
        Binding(
            "home",
            "bot_cursor_to(0)",
            "First",
            show=False,
            id="bots.first",
            tooltip="Select the first bot",
        ),
        Binding(
            "end",
            "bot_cursor_to(-1)",
            "Last",
            show=False,
            id="bots.last",
            tooltip="Select the last bot",
        ),
        Binding(
            "enter",
            "configure",
            "Configure",
            show=False,
            id="bots.activate",
            priority=True,
            tooltip="Edit the highlighted bot (like e)",
        ),
        Binding(
            "escape",
            "show_all",
            "All bots",
            id="bot.all",
            show=False,
            tooltip="Clear the selection: positions and equity of every bot",
        ),
        Binding(
            "1",
            "panel('positions')",
            "Positions",
            id="panel.positions",
            show=False,
            tooltip="Small terminals (one panel at a time): show Positions",
        ),
        Binding(
            "2",
            "panel('reasoning')",
            "Reasoning",
            id="panel.reasoning",
            show=False,
            tooltip="Small terminals: show Reasoning",
        ),
        Binding(
            "3",
            "panel('equity')",
            "Equity",
            id="panel.equity",
            show=False,
            tooltip="Small terminals: show Equity",
        ),
        Binding(
            "4",
            "panel('fills')",
            "Fills",
            id="panel.fills",
            show=False,
            tooltip="Small terminals: show Fills",
        ),
        Binding(
            "c",
            "toggle_chart",
            "Chart",
            id="panel.chart",
            show=False,
            tooltip="Equity chart or price panel (the selected bot's symbol) in its place",
        ),
        Binding(
            "y",
            "next_symbol",
            "Symbol",
            id="panel.symbol",
            show=False,
            tooltip="Price panel: the selected bot's next symbol",
        ),
        Binding(
            "T",
            "trades",
            "Trades",
            id="bot.trades",
            show=False,
            tooltip="Closed trades and daily P&L of the selected bot",
        ),
        Binding(
            "B",
            "backtest_bot",
            "Backtest bot",
            id="bot.backtest",
            show=False,
            tooltip="Backtest the selected bot as configured",
        ),
    ]

    # repaint=False: the panels repaint what changed; a reactive's default repaints the whole
    # screen (a full 120x40 frame on every j/k)
    selected: reactive[str | None] = reactive(None, repaint=False)
    compact: reactive[bool] = reactive(False, repaint=False)
    price_shown: reactive[bool] = reactive(False, repaint=False)  # price panel, not equity

    def __init__(self) -> None:
        super().__init__()
        self._chart_dirty = True
        self._chart_drawn_at = 0.0
        self._chart_timer: Timer | None = None  # a chart postponed by keys (CHART_QUIET_S)
        self._drawn: dict[str, object] = {}  # what each panel last showed (skip no-ops)
        self._bots_drawn_at = 0.0
        self._bots_dirty = False
        # request id -> (config sent, old name or None for a new bot): the form comes back
        # with the engine's reason when it refuses
        self._config_requests: dict[str, tuple[BotConfig, str | None]] = {}
        self._select_when_shown: str | None = None  # a bot just added: select it
        self.price_symbols: dict[str, str] = {}  # bot -> the symbol its price panel shows

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static("", id="market-warning")
        yield BotsTable(id="bots")
        # the number is the key that shows the panel
        yield Tabs(
            *(Tab(f"{i} {label}", id=f"tab-{key}") for i, (key, label) in enumerate(PANELS, 1)),
            id="panel-tabs",
        )
        with Container(id="panels"):
            yield PositionsTable(id="positions", classes="panel current")
            yield ReasoningPanel(id="reasoning", classes="panel")
            yield EquityChart(id="equity", classes="panel")
            yield PriceChart(id="price", classes="panel")
            yield FillsLog(id="fills", classes="panel")
        yield FittingFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for key, label in PANELS:
            self.query_one(f"#{key}").border_title = label
        self.query_one(PriceChart).border_title = "Price"
        self.query_one(BotsTable).border_title = "Bots"
        self.query_one(BotsTable).focus()
        self.set_interval(CHART_INTERVAL_S, self._redraw_chart_when_quiet)
        self.set_interval(1.0, lambda: self.redraw({"header", "bots"}))
        self.set_interval(BOTS_INTERVAL_S, self._redraw_bots_if_dirty)
        self.redraw({"header", "bots", "positions", "reasoning", "equity", "fills"})

    # ------------------------------------------------------------------ layout

    def on_resize(self, event: Resize) -> None:
        self.compact = event.size.width < COMPACT_WIDTH or event.size.height < COMPACT_HEIGHT

    def on_screen_resume(self) -> None:
        self.redraw({"bots", "header"}, force_bots=True)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "compact")
        self.query_one(HeaderBar).set_class(compact, "narrow")
        if self.is_mounted:
            self.redraw({"bots", "header"})

    @on(Tabs.TabActivated, "#panel-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        key = (event.tab.id or "tab-positions").removeprefix("tab-")
        for name, _ in PANELS:
            self.query_one(f"#{name}").set_class(name == key, "current")
        self.query_one(PriceChart).set_class(key == "equity", "current")
        if key == "equity":
            self._chart_dirty = True
            self._redraw_chart_if_dirty()

    def watch_price_shown(self, shown: bool) -> None:
        self.set_class(shown, "price-shown")
        self.query_one("#tab-equity", Tab).label = "3 Price" if shown else "3 Equity"
        self._chart_dirty = True
        if self.is_mounted:
            self.call_after_refresh(self._redraw_chart_if_dirty)

    def action_toggle_chart(self) -> None:
        self.price_shown = not self.price_shown

    def action_next_symbol(self) -> None:
        """The price panel shows the selected bot's next symbol (the first press opens the
        panel when the equity chart is in its place)."""
        bot = self._bot()
        if bot is None:
            return
        if not self.price_shown:  # first the panel, at the symbol it showed last
            self.price_shown = True
            return
        symbols = list(bot.config.symbols)
        current = self.price_symbol(bot)
        i = symbols.index(current) if current in symbols else -1
        self.price_symbols[bot.config.name] = symbols[(i + 1) % len(symbols)]
        self._chart_dirty = True
        self._redraw_chart_if_dirty()

    def price_symbol(self, bot: m.BotView) -> str:
        symbols = bot.config.symbols
        chosen = self.price_symbols.get(bot.config.name, "")
        return chosen if chosen in symbols else (symbols[0] if symbols else "")

    def action_trades(self) -> None:
        from .trades import TradesScreen  # noqa: PLC0415 - loads on first use

        bot = self._bot()
        if bot is not None:
            self.app.push_screen(TradesScreen(bot.config.name))

    def action_panel(self, key: str) -> None:
        self.query_one("#panel-tabs", Tabs).active = f"tab-{key}"

    # ------------------------------------------------------------------ rendering

    def redraw(self, dirty: set[str], *, force_bots: bool = False) -> None:
        """Repaint the panels named in ``dirty`` from the app's state."""
        self.oxapp.foreground_busy()
        st = self.oxapp.state
        if "header" in dirty:
            bots = list(st.bots.values())
            self.query_one(HeaderBar).show(
                live=st.live_state(),
                bots=len(bots),
                running=sum(1 for b in bots if b.status == "running" and not b.engine),
                elsewhere=sum(1 for b in bots if b.engine),
                equity=st.total_equity(),
                pnl_today=st.pnl_today(),
                engine_state=st.engine_state,
                clock_ms=self.oxapp.clock.now_ms(),
                market_ms=st.engine_ts,
                attached=self._attached_label(),
                feeds=st.feeds,
            )
            self._show_market_warning()
        force_bots = force_bots or "bots-now" in dirty
        if (
            "bots" in dirty
            and not force_bots
            and time.monotonic() - self._bots_drawn_at < BOTS_INTERVAL_S
        ):
            self._bots_dirty = True  # the table is the costliest redraw: at most 3 times/s
        elif "bots" in dirty:
            self._bots_dirty = False
            self._bots_drawn_at = time.monotonic()
            table = self.query_one(BotsTable)
            table.show(
                [st.bots[n] for n in st.bot_names()],
                st.engine_ts,
                engine_lost=st.engine_state == DISCONNECTED,
            )
            if self._select_when_shown in st.bots:
                table.select_name(self._select_when_shown)
                self._select_when_shown = None
            if self.selected not in st.bots and self.selected is not None:
                self.selected = table.selected
            self._refresh_footer_if_needed()
        # A change of the bots alone (a status change drawn at once) redraws these panels only
        # when what they show of the bots moved; their own changes wait for their own mark.
        unwatched = st.unwatched_bots()
        pos_key = (self.selected, st.positions_version, unwatched)
        if _moved(dirty, "positions", pos_key, self._drawn.get("positions")):
            self._drawn["positions"] = pos_key
            ptable = self.query_one(PositionsTable)
            rows = st.positions_of(self.selected)
            ptable.show(rows, all_bots=self.selected is None, unwatched=unwatched)
            who = self.selected or "all bots"
            ptable.border_title = f"Positions · {who} ({len(rows)})"
        bot = self._bot()
        market = _market_state(bot) if bot else ""
        why_key = (self.selected, st.reasoning_version.get(self.selected or "", 0), market)
        if _moved(dirty, "reasoning", why_key, self._drawn.get("reasoning")):
            self._drawn["reasoning"] = why_key
            title = f"Reasoning · {self.selected}" if self.selected else "Reasoning"
            self.query_one(ReasoningPanel).border_title = title + (f" — {market}" if market else "")
            self.query_one(ReasoningPanel).show(
                self.selected, st.reasoning.get(self.selected, ()) if self.selected else ()
            )
        if "equity" in dirty and not self.price_shown:
            self._chart_dirty = True
        if dirty & {"price", "fills", "positions"} and self.price_shown:
            self._chart_dirty = True
        if "fills" in dirty:
            self.query_one(FillsLog).show(st.fills, st.fills_total, st.fills_epoch)

    def _attached_label(self) -> str:
        """ "oxbot.db" (the database of the engine it is attached to) for a cockpit attached
        to another process; "" in-process."""
        client = self.oxapp.client
        if not client.attached:
            return ""
        db = getattr(client, "db", None)
        if db is None:
            return "a running engine"
        # a file: its name; a PostgreSQL URL (storage/paths.py DbUrl, a str): the database's
        # name, as short as a file's (adversary F9: `.name` crashed `oxbot attach` on one)
        return db.name if hasattr(db, "name") else "pg:" + str(db).rsplit("/", 1)[-1]

    def _show_market_warning(self) -> None:
        """One line under the header while a market is stale or a breaker paused bots."""
        st = self.oxapp.state
        parts = [f"{', '.join(syms)} ({bot})" for bot, syms in st.stale().items()]
        text = f"⚠ stale prices, not updating: {'; '.join(parts)}" if parts else ""
        paused = [b.name for b in st.bots.values() if b.status == "paused" and b.pause_reason]
        if paused:
            why = st.bots[paused[0]].pause_reason
            text += ("  " if text else "⚠ ") + f"paused by the market: {', '.join(paused)} ({why})"
        if text != self._drawn.get("warning"):
            self._drawn["warning"] = text
            warning = self.query_one("#market-warning", Static)
            warning.update(text)
            warning.display = bool(text)

    def redraw_all(self) -> None:
        """Repaint every panel and the chart now (after a resync, and for tests' pictures)."""
        self._drawn.clear()
        self._chart_dirty = True
        self.redraw(
            {"header", "bots", "positions", "reasoning", "equity", "fills"}, force_bots=True
        )
        self._redraw_chart_if_dirty()

    def _refresh_footer_if_needed(self) -> None:
        # refresh_bindings rebuilds the footer: only when what check_action answers changed
        # what the footer shows, not which bot: moving between two running bots costs nothing
        key = (tuple(self.check_action(a, ()) for a in FOOTER_ACTIONS), bool(self.oxapp.state.bots))
        if key != self._drawn.get("footer"):
            self._drawn["footer"] = key
            self.refresh_bindings()
            self.app.refresh_bindings()

    def _redraw_bots_if_dirty(self) -> None:
        if self._bots_dirty:
            self.redraw({"bots"}, force_bots=True)

    def _redraw_chart_when_quiet(self) -> None:
        """The chart, if dirty, once no input came for CHART_QUIET_S (or it is CHART_STALE_S
        old); until then one timer is pending for it."""
        if not self._chart_dirty:
            return
        now = time.monotonic()
        wait = self.oxapp.last_input + CHART_QUIET_S - now
        if wait > 0 and now - self._chart_drawn_at < CHART_STALE_S:
            if self._chart_timer is None:
                self._chart_timer = self.set_timer(wait, self._chart_timer_due)
            return
        self._redraw_chart_if_dirty()

    def _chart_timer_due(self) -> None:
        self._chart_timer = None
        self._redraw_chart_when_quiet()

    def _redraw_chart_if_dirty(self) -> None:
        chart: EquityChart | PriceChart
        chart = self.query_one(PriceChart) if self.price_shown else self.query_one(EquityChart)
        if not self._chart_dirty or not chart.display or chart.size.height < 3:
            return
        if self.compact and not chart.has_class("current"):
            return
        self._chart_dirty = False
        self._chart_drawn_at = time.monotonic()
        self.oxapp.foreground_busy()
        st = self.oxapp.state
        if isinstance(chart, EquityChart):
            chart.show(self.selected, st.equity, st.deposits_of(self.selected))
            return
        bot = st.bots.get(self.selected or "")
        if bot is None:
            chart.border_title = "Price"
            chart.show(None, "select a bot (j/k) to see its symbol's price")
            return
        symbol = self.price_symbol(bot)
        chart.border_title = f"Price · {symbol} (y: next symbol, c: equity)"
        chart.show(
            from_events(
                bot.config.name,
                symbol,
                st.candles.get((bot.config.name, symbol), ()),
                st.fills_of(bot.config.name, symbol),
                st.positions.get((bot.config.name, symbol)),
            ),
            "waiting for the next closed candle",
        )

    # ------------------------------------------------------------------ focus

    @on(DescendantFocus)
    @on(DescendantBlur)
    def _focus_moved(self) -> None:
        """Say in words which panel has the keyboard (its border colours too): the arrows
        scroll a focused panel, while j/k and every bot key act on the highlighted bot."""
        focused = self.focused
        for widget in (self.query_one(BotsTable), *self.query(".panel")):
            hint = ""
            if widget is focused:
                hint = FOCUS_HINT_BOTS if isinstance(widget, BotsTable) else FOCUS_HINT_PANEL
            if widget.border_subtitle != hint:
                widget.border_subtitle = hint

    def watch_selected(self, _old: str | None, _new: str | None) -> None:
        if self.is_mounted:
            self.redraw({"positions", "reasoning", "equity", "price"})
            self._refresh_footer_if_needed()
            # the chart (the costliest panel to draw) follows once the keys pause: the
            # selection, its reasoning and positions show first
            self.call_after_refresh(self._redraw_chart_when_quiet)

    @on(BotsTable.BotSelected)
    def _bot_selected(self, event: BotsTable.BotSelected) -> None:
        self.selected = event.name

    # ------------------------------------------------------------------ keys

    def _bot(self) -> m.BotView | None:
        """The bot under the table's cursor, read from the table itself: the BotSelected
        message that updates ``selected`` may still be queued behind the key being handled
        (j and x arriving in one read), and acting on the previous bot would be wrong."""
        name = self.query_one(BotsTable).selected
        return self.oxapp.state.bots.get(name) if name else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        bot = self._bot()
        status = bot.status.value if bot else ""
        allowed = {
            "configure": bot is not None,
            "start": status in ("stopped", "error"),
            "stop": status in ("running", "paused", "error"),
            # space says Pause or Resume: the other one is hidden (False), not greyed
            "pause": True if status == "running" else False if status == "paused" else None,
            "resume": True if status == "paused" else False,
            "flatten": bot is not None and bot.open_positions > 0,
            "delete": bot is not None,
            "backtest_bot": bot is not None,
            "trades": bot is not None,
            "next_symbol": bot is not None,
            "show_all": self.selected is not None,
        }.get(action, True)
        if allowed is False and action in ("pause", "resume"):
            return False  # hidden: the same key shows the other one
        return True if allowed else None  # None: shown greyed out in the footer

    def action_bot_cursor(self, step: int) -> None:
        self.query_one(BotsTable).action_cursor(step)

    def action_bot_cursor_to(self, index: int) -> None:
        self.query_one(BotsTable).action_cursor_to(index)

    def action_backtest_bot(self) -> None:
        """The backtest screen for the selected bot, prefilled with its configuration."""
        from .backtest import BacktestScreen  # noqa: PLC0415 - loads on first use

        bot = self._bot()
        if bot is not None:
            self.app.push_screen(BacktestScreen(bot=bot.config))

    def action_show_all(self) -> None:
        table = self.query_one(BotsTable)
        table.show_cursor = False
        self.selected = None


# the actions whose check_action answer depends on the selected bot
FOOTER_ACTIONS = ("configure", "start", "stop", "pause", "resume", "flatten", "delete", "show_all")


def _moved(dirty: set[str], panel: str, key: tuple[object, object, object], drawn: object) -> bool:
    """Whether a panel keyed (selected bot, its own version, what it shows of the bots) needs
    drawing: its own mark is dirty and the key moved, or the bots changed (a status change,
    drawn at once) and the parts of the key about the bots moved. Its own changes alone wait
    for its own mark, so the frame of a status change stays small."""
    if not isinstance(drawn, tuple):
        return bool(dirty & {panel, "bots"})
    if panel in dirty and key != drawn:
        return True
    return "bots" in dirty and (key[0], key[2]) != (drawn[0], drawn[2])


def _market_state(bot: m.BotView) -> str:
    """What the market is doing to this bot, for the reasoning panel's title."""
    parts = []
    if bot.status == "paused" and bot.pause_reason:
        parts.append(f"paused: {bot.pause_reason}")
    if bot.stale_symbols:
        parts.append(f"stale price: {', '.join(bot.stale_symbols)}")
    if bot.not_ready:
        parts.append(f"not deciding: {bot.not_ready}")
    if bot.unresolved:
        parts.append(
            f"order outcome unknown on {', '.join(bot.unresolved)}: "
            "looking it up, no new order there"
        )
    return "; ".join(parts)
