"""The bots table: one line per bot, cursor = the selected bot.

A purpose-built widget rather than a DataTable: with 20 bots updating several times a second,
DataTable re-renders every cell on any change (tens of ms, felt as key lag). Here each row is
one Text rendered once and cached until that bot's values change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from .. import formatting as fmt
from ..palette import colour

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine.messages import BotView, LlmFigures

# key, label, right-aligned
COLUMNS = (
    ("name", "Bot", False),
    ("strategy", "Strategy", False),
    ("symbols", "Symbols", False),
    ("tf", "TF", False),
    ("mode", "Mode", False),
    ("status", "Status", False),
    ("engine", "Engine", False),
    ("equity", "Equity", True),
    ("pnl", "P&L %", True),
    ("pos", "Pos", True),
    ("trades", "Round trips", True),
    ("last", "Last", False),
    ("next", "Next in", False),
    ("llm", "LLM $/fail", False),
)
# Columns left out, in this order, until the rest fits the table's width: what a trader needs
# to act (name, mode, status, equity, P&L, positions) stays; the rest is in the config.
DROP_ORDER = ("llm", "last", "engine", "tf", "trades", "symbols", "next", "strategy", "pos")
# The engine column (several engines on one PostgreSQL database) goes early: the status of a bot
# another engine runs says "on NAME" already.
# While an LLM bot is failing, why it fails (the LLM column) matters more than the last
# decision's time, the timeframe, the round trips or the next cycle's time.
DROP_ORDER_FAILING = ("last", "engine", "tf", "trades", "next", "llm", "symbols", "strategy", "pos")
FAILED_MARK = "✗"
CELL_PAD = 2  # one space each side of a cell
STATUS_COL = [k for k, _, _ in COLUMNS].index("status")
NEXT_COL = [k for k, _, _ in COLUMNS].index("next")
ENGINE_COL = [k for k, _, _ in COLUMNS].index("engine")
HERE = "here"  # the engine column of a bot this engine runs ("—": no engine runs it)
LOST_STATUS = "? engine gone"
CURSOR_MARK = "▸"  # an attached cockpit lost its engine: the status is unknown

Cell = tuple[str, str]  # text, theme variable for its colour ("" = default)
# A bot whose strategy does not load (engine/strategies/__init__.py `strategy_class`): the
# row names the file and line; the whole message is the toast the engine's error raised.
NOT_LOADED = re.compile(r"did not load: (?:\S*/)?([^/\s:]+\.py):(\d+)")


class BotsTable(Widget, can_focus=True):
    """Shows BotViews; posts BotSelected when the cursor moves.

    The cursor row starts with CURSOR_MARK as well as being coloured, so the bot that keys act
    on reads as text too (a 16-colour terminal, or the table without focus)."""

    # The keys that move the cursor are the dashboard's (screens/dashboard.py): j/k move it
    # whatever has focus, so the highlighted bot is always the one keys act on.

    cursor: reactive[int] = reactive(0)
    show_cursor: reactive[bool] = reactive(True)

    class BotSelected(Message):
        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._names: list[str] = []
        self._cells: dict[str, list[Cell]] = {}
        self._keys: tuple[str, ...] = tuple(k for k, _, _ in COLUMNS)
        self._widths: list[int] = []
        self._cache: dict[tuple[object, ...], Strip] = {}
        self._top = 0
        self._market = (0, 0)  # (the newest market time given, the app clock's time then)

    # ------------------------------------------------------------------ data

    @property
    def selected(self) -> str | None:
        if not self._names or not self.show_cursor:
            return None
        return self._names[min(self.cursor, len(self._names) - 1)]

    @property
    def row_count(self) -> int:
        return len(self._names)

    def row_text(self, name: str) -> dict[str, str]:
        """Bot ``name``'s row as text by column key (every column, shown or not at this
        width), before it is cut to the column widths."""
        keys = [k for k, _, _ in COLUMNS]
        return {key: text for key, (text, _) in zip(keys, self._cells[name], strict=True)}

    def on_resize(self) -> None:
        self._relayout()

    def show(self, bots: list[BotView], now_ms: int, *, engine_lost: bool = False) -> None:
        """Update the rows; only rows whose text changed are rendered again. ``engine_lost``:
        the engine this cockpit is attached to went away, so the rows are its last word, not
        the bots' state now."""
        keep = self.selected
        names = [b.name for b in bots]
        now_ms = self._market_now(now_ms)
        cells = {b.name: self._row(b, now_ms) for b in bots}
        if engine_lost:
            for row in cells.values():
                row[STATUS_COL] = (LOST_STATUS, "")
                row[NEXT_COL] = ("—", "")
        if names == self._names and cells == self._cells:
            return
        grew = names != self._names
        self._names, self._cells = names, cells
        if grew:
            self.refresh(layout=True)
            if keep in names:
                self.cursor = names.index(keep)
            elif names:
                self.cursor = min(self.cursor, len(names) - 1)
                self.post_message(self.BotSelected(self.selected))
        self._relayout()

    def _relayout(self) -> None:
        self._compute_widths()
        self.refresh()

    def _compute_widths(self) -> None:
        """Columns and their widths from the content and the table's actual width."""
        natural = {
            k: max([len(label)] + [len(self._cells[n][i][0]) for n in self._names])
            for i, (k, label, _) in enumerate(COLUMNS)
        }
        keys = [k for k, _, _ in COLUMNS]
        if not any(self._cells[n][ENGINE_COL][0] not in (HERE, "—") for n in self._names):
            keys.remove("engine")  # one engine (every SQLite user): no column for it
        room = self.size.width or 10_000  # not laid out yet: everything
        llm = [k for k, _, _ in COLUMNS].index("llm")  # cells are by COLUMNS, not by keys
        failing = any(FAILED_MARK in self._cells[n][llm][0] for n in self._names)
        for drop in DROP_ORDER_FAILING if failing else DROP_ORDER:
            if sum(natural[k] + CELL_PAD for k in keys) <= room:
                break
            if drop in keys:
                keys.remove(drop)
        widths = [natural[k] for k in keys]
        if widths != self._widths or tuple(keys) != self._keys:
            self._keys, self._widths = tuple(keys), widths
            self._cache.clear()

    def _market_now(self, market_ms: int) -> int:
        """The market time now: the newest one the engine told, moved on by the app clock
        since it came, so "next in" counts down between the engine's events (the dashboard
        redraws the table every second)."""
        clock = getattr(self.app, "clock", None)
        if not market_ms or clock is None:
            return market_ms
        wall = clock.now_ms()
        if market_ms != self._market[0]:
            self._market = (market_ms, wall)
            return market_ms
        return market_ms + max(0, wall - self._market[1])

    def _row(self, b: BotView, now_ms: int) -> list[Cell]:
        c = b.config
        status = b.status.value
        strat, llm = c.strategy, "—"
        if b.llm is not None and b.llm.model:
            strat = f"llm {b.llm.model}"
            llm = llm_cell(b.llm)
        if len(strat) > 16:  # long model names must not push the status off screen
            strat = strat[:15] + "…"
        # no market time yet (just attached): unknown, not "498670h57m"
        nxt = None if b.next_cycle_ts is None or not now_ms else b.next_cycle_ts - now_ms
        live = c.mode.value == "live"
        return [
            (b.name, ""),
            (strat, ""),
            (",".join(s.split("/")[0] for s in c.symbols), ""),
            (f"{c.timeframe} cron" if c.cron else c.timeframe, ""),
            ("LIVE" if live else "paper", "live-mode" if live else ""),
            (status_text(b), "" if b.engine else fmt.STATUS_VARIABLE.get(status, "")),
            (b.engine or (HERE if status in ("running", "paused") else "—"), ""),
            (fmt.money(b.equity), ""),
            (fmt.signed_pct(b.pnl_pct), fmt.pnl_variable(b.pnl_pct)),
            (str(b.open_positions), ""),
            (str(b.trades), ""),
            (fmt.hhmm(b.last_decision_ts), ""),
            (fmt.duration(nxt) if status == "running" else "—", ""),
            (llm, ""),
        ]

    # ------------------------------------------------------------------ rendering

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._names) + 1

    def _line(
        self, cells: list[Cell] | None, style: Style, width: int, on_cursor: bool = False
    ) -> Strip:
        text = Text(no_wrap=True, overflow="crop", end="")
        idx = [i for i, (k, _, _) in enumerate(COLUMNS) if k in self._keys]
        for w, i in zip(self._widths, idx, strict=True):
            key, label, right = COLUMNS[i]
            value, var = (label, "") if cells is None else cells[i]
            value = value.rjust(w) if right else value.ljust(w)
            # On the cursor one colour that reads on $primary (green on cyan did not); the
            # status and P&L say their meaning in text anyway.
            colour_name = colour(self.app, var) if var and not on_cursor else ""
            lead = CURSOR_MARK if on_cursor and not text else " "
            text.append(lead + value + " ", Style.parse(colour_name) if colour_name else None)
        segments = list(text.render(self.app.console))
        return Strip(Segment.apply_style(segments, style)).crop_extend(0, width, style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if len(self._widths) != len(self._keys):
            self._compute_widths()
        if y == 0:
            head: tuple[object, ...] = (
                "head",
                width,
                self._keys,
                tuple(self._widths),
                self.app.theme,
            )
            if head not in self._cache:
                self._cache[head] = self._line(None, base + Style(bold=True), width)
            return self._cache[head]
        self._scroll_to_cursor()
        row = self._top + y - 1
        if row >= len(self._names):
            return Strip.blank(width, base)
        name = self._names[row]
        cells = self._cells[name]
        on_cursor = self.show_cursor and row == self.cursor
        style = base
        if on_cursor:
            bg = colour(self.app, "primary" if self.has_focus else "panel-lighten-2")
            fg = colour(self.app, "cursor-text") if self.has_focus else ""
            style = base + Style(bgcolor=bg or None, color=fg or None, bold=True, reverse=not bg)
        key: tuple[object, ...] = (
            name,
            tuple(cells),
            width,
            self._keys,
            tuple(self._widths),
            on_cursor,
            self.has_focus,
            self.app.theme,
        )
        strip = self._cache.get(key)
        if strip is None:
            if len(self._cache) > 500:
                self._cache.clear()
            strip = self._cache[key] = self._line(cells, style, width, on_cursor)
        return strip

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        if self.cursor < self._top:
            self._top = self.cursor
        elif self.cursor >= self._top + visible:
            self._top = self.cursor - visible + 1
        self._top = max(0, min(self._top, max(0, len(self._names) - visible)))

    # ------------------------------------------------------------------ keys and mouse

    def watch_cursor(self, old: int, new: int) -> None:
        top = self._top
        self._scroll_to_cursor()
        if self._top == top:  # no scrolling: only the two rows the cursor left and reached
            width = self.size.width
            self.refresh(*(Region(0, row - top + 1, width, 1) for row in {old, new}))
        else:
            self.refresh()
        if old != new and self._names:
            self.post_message(self.BotSelected(self.selected))

    def watch_show_cursor(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_cursor(self, step: int) -> None:
        if not self._names:
            return
        if not self.show_cursor:
            self.show_cursor = True
            self.post_message(self.BotSelected(self.selected))
            return
        self.cursor = max(0, min(len(self._names) - 1, self.cursor + step))

    def action_cursor_to(self, index: int) -> None:
        if self._names:
            self.show_cursor = True
            self.cursor = index % len(self._names)
            self.post_message(self.BotSelected(self.selected))

    def select_name(self, name: str) -> None:
        """Put the cursor on ``name`` (a bot just added)."""
        if name in self._names:
            self.show_cursor = True
            self.cursor = self._names.index(name)
            self.post_message(self.BotSelected(self.selected))

    def on_click(self, event: Click) -> None:
        row = self._top + event.y - 1
        if 0 <= row < len(self._names):
            self.show_cursor = True
            self.cursor = row
            self.post_message(self.BotSelected(self.selected))


def llm_cell(llm: LlmFigures) -> str:
    """An LLM bot's spend today and failure rate (transport errors included): ``$0.12 / 4%``;
    ``unpriced`` when the model has no price (its spend is unknown, not $0); while the last
    decision failed, why, shortened: ``$0.00 / 100% ✗ HTTP 500``."""
    spend = "unpriced" if llm.unpriced else f"${float(llm.cost_today):.2f}"
    text = f"{spend} / {llm.failure_rate * 100:.0f}%"
    if llm.last_failure:
        text += f" {FAILED_MARK} {llm.last_failure_kind or 'failed'}"
    return text


def status_text(b: BotView) -> str:
    """The status as words, with the market's state: a breaker pause says why (short), a
    price that stopped updating says "stale", an LLM bot whose last decision failed says so
    (the LLM column, dropped first on a narrow screen, says why). "on B": engine B of the
    database runs the bot (several engines on one PostgreSQL database)."""
    if b.engine:  # another engine of the database runs it: its status here says nothing
        return f"on {b.engine}"
    status = b.status.value
    text = fmt.STATUS_TEXT.get(status, status)
    why = b.pause_reason
    if status == "paused" and not why and b.llm is not None and b.llm.budget_paused:
        why = "LLM budget spent"
    if why and status == "paused":
        short = why.split(":")[0]
        text += f": {short[:24] + '…' if len(short) > 25 else short}"
    if status == "error" and "did not load" in b.last_error:
        hit = NOT_LOADED.search(b.last_error)
        text += f": {hit[1]}:{hit[2]}" if hit else ": strategy not loaded"
    if b.stale_symbols:
        text += " · stale"
    if b.not_ready:
        text += " · reconciling"
    elif b.unresolved:
        text += " · order?"
    if b.llm is not None and b.llm.last_failure:
        text += " · LLM failing"
    return text
