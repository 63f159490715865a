"""What the dashboard knows: a plain model the event handler updates and the widgets read.

No Textual here: `DashboardState.apply(event)` folds one engine event into the model and says
which panels changed and what to toast, so it is cheap to test and the UI redraws only dirty
panels, once per batch of events.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from . import formatting as fmt

if TYPE_CHECKING:  # the engine's messages load with the first event, after the first frame
    from oxbot.engine import messages as m
    from oxbot.engine.messages import BotView, PositionView

EQUITY_POINTS = 600  # per bot: enough for a readable curve, bounded memory
FILLS_KEPT = 200
ENTRIES_KEPT = 30  # reasoning entries per bot
CANDLES_KEPT = 240  # per bot and symbol: what the price panel can show


@dataclass
class ReasoningEntry:
    """One decision as the panel shows it: streamed text first, then the outcome."""

    ts: int
    source: str
    text: str = ""
    actions: tuple[tuple[str, str], ...] = ()
    verdict: str = ""
    verdict_reasons: tuple[str, ...] = ()
    done: bool = False


@dataclass(frozen=True)
class Toast:
    message: str
    severity: str = "information"  # information, warning, error (Textual's names)
    title: str = ""


@dataclass
class DashboardState:
    engine_state: str = "starting"
    engine_ts: int = 0
    bots: dict[str, BotView] = field(default_factory=dict)
    positions: dict[tuple[str, str], PositionView] = field(default_factory=dict)
    equity: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    # per bot, its deposits (> 0) and withdrawals (< 0) as (ts, amount): the chart's steps
    flows: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    reasoning: dict[str, deque[ReasoningEntry]] = field(default_factory=dict)
    fills: deque[m.OrderFilled] = field(default_factory=lambda: deque(maxlen=FILLS_KEPT))
    fills_total: int = 0  # fills seen since start, so the log appends only new ones
    fills_epoch: int = 0  # bumped when stored fills were merged in: the log is rewritten
    fills_history_wanted: bool = False  # the app asks the engine for stored fills once
    fills_history_asked: bool = False
    # (bot, symbol) -> its latest closed candles (CandleClosed: OHLC and the strategy's MAs)
    candles: dict[tuple[str, str], deque[m.CandleClosed]] = field(default_factory=dict)
    candles_version: int = 0
    # Bumped on change, so panels skip redraws when what they show did not move.
    positions_version: int = 0
    reasoning_version: dict[str, int] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # request_id -> what the user asked
    # requests whose success shows in the table already (start, stop, pause): no toast then
    quiet: set[str] = field(default_factory=set)
    # requests whose refusal the screen that sent them shows itself (the bot form)
    refusal_shown: set[str] = field(default_factory=set)
    # bots seen for the first time, whose stored equity curve the app should ask for
    history_wanted: set[str] = field(default_factory=set)
    history_asked: set[str] = field(default_factory=set)
    # LIVE start-up reconciliation: bot -> differences still waiting for adopt / ignore
    reconcile: dict[str, tuple[m.ReconcileItem, ...]] = field(default_factory=dict)
    # exchange -> how its market data arrives ("ws", "rest (ws down: ...)"): MarketFeed
    feeds: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived values

    def bot_names(self) -> list[str]:
        return sorted(self.bots, key=natural_key)

    def total_equity(self) -> Decimal:
        return sum((b.equity for b in self.bots.values()), Decimal(0))

    def pnl_today(self) -> Decimal:
        return sum((b.equity - b.day_start_equity for b in self.bots.values()), Decimal(0))

    def any_live(self) -> bool:
        return any(b.config.mode.value == "live" for b in self.bots.values())

    def live_state(self) -> str:
        """ "active" when a LIVE bot runs, is paused or holds positions (real money at stake),
        "stopped" when LIVE bots exist but none is active, "" without LIVE bots."""
        live = [b for b in self.bots.values() if b.config.mode.value == "live"]
        if any(b.status.value in ("running", "paused") or b.open_positions for b in live):
            return "active"
        return "stopped" if live else ""

    def stale(self) -> dict[str, list[str]]:
        """bot -> symbols whose price stopped updating (the market's last-good price)."""
        return {n: list(b.stale_symbols) for n, b in sorted(self.bots.items()) if b.stale_symbols}

    def deposits_of(self, bot: str | None) -> list[tuple[int, float]]:
        """The bot's net deposits as a step line over its equity curve's time span, or []
        when it never had a deposit or withdrawal (the curve alone says it all then)."""
        flows = self.flows.get(bot or "")
        points = self.equity.get(bot or "")
        view = self.bots.get(bot or "")
        if not flows or not points or view is None:
            return []
        first, last = points[0][0], points[-1][0]
        value = view.start_equity - sum((a for _, a in flows), Decimal(0))
        for ts, amount in flows:
            if ts <= first:
                value += amount
        out = [(first, float(value))]
        for ts, amount in flows:
            if ts > first:  # one after the newest sample still shows: the line ends there
                out.append((ts, float(value)))
                value += amount
                out.append((ts, float(value)))
        if last > out[-1][0]:
            out.append((last, float(value)))
        return out

    def fills_of(self, bot: str, symbol: str | None = None) -> list[m.OrderFilled]:
        """The bot's fills the cockpit holds (live and stored), oldest first."""
        return [f for f in self.fills if f.bot == bot and (symbol is None or f.symbol == symbol)]

    def reconcile_items(self) -> list[tuple[str, m.ReconcileItem]]:
        return [(bot, i) for bot, items in sorted(self.reconcile.items()) for i in items]

    def active_bots(self) -> int:
        """Bots running or paused: what a quit or a PANIC stops."""
        return sum(1 for b in self.bots.values() if b.status.value in ("running", "paused"))

    def unwatched_bots(self) -> frozenset[str]:
        """Bots whose positions nobody guards now: stopped or in error (no SL/TP checks), or
        every bot when the engine this cockpit is attached to went away."""
        if self.engine_state == "disconnected":
            return frozenset(self.bots)
        return frozenset(
            n for n, b in self.bots.items() if b.status.value not in ("running", "paused")
        )

    def positions_of(self, bot: str | None) -> list[PositionView]:
        rows = [p for p in self.positions.values() if bot is None or p.bot == bot]
        return sorted(rows, key=lambda p: (natural_key(p.bot), p.symbol))

    # ------------------------------------------------------------------ folding events

    def apply(self, ev: m.Event) -> tuple[set[str], list[Toast]]:
        """Fold one event in; return the dirty panel names and the toasts to show."""
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        # Market time ("now" for next-cycle countdowns) comes from market events only: a
        # command reply before the first candle carries the wall clock, not the sim's clock.
        market_time = (m.EquitySampled, m.DecisionMade, m.OrderFilled, m.ReasoningStarted)
        if ev.ts and isinstance(ev, market_time):
            self.engine_ts = max(self.engine_ts, ev.ts)
        toasts: list[Toast] = []
        dirty: set[str] = set()
        match ev:
            case m.EngineSnapshot():
                self.engine_state = ev.state
                for b in ev.bots:  # met in the error state (its strategy file does not load)
                    if b.name not in self.bots and b.status == "error" and b.last_error:
                        toasts.append(Toast(f"{b.name}: {b.last_error}", "error", "bot error"))
                self.bots = {b.name: b for b in ev.bots}
                self.positions = {(p.bot, p.symbol): p for p in ev.positions}
                self.feeds = dict(ev.feeds)  # a cockpit attaching learns them here
                self.positions_version += 1
                self._want_history(self.bots)
                if not self.fills_history_asked:
                    self.fills_history_asked = self.fills_history_wanted = True
                dirty |= {"header", "bots", "bots-now", "positions", "equity", "reasoning"}
            case m.MarketFeed():
                if ev.feed:
                    self.feeds[ev.exchange] = ev.feed
                else:
                    self.feeds.pop(ev.exchange, None)
                dirty.add("header")
            case m.EngineStateChanged():
                self.engine_state = ev.state
                dirty |= {"header", "bots", "bots-now"}  # "disconnected" changes every row
                if ev.message:
                    toasts.append(Toast(ev.message, title=f"engine {ev.state}"))
            case m.BotStateChanged() if ev.bot is not None:
                old = self.bots.get(ev.bot.name)
                self.bots[ev.bot.name] = ev.bot
                self._want_history((ev.bot.name,))
                dirty |= {"header", "bots"}
                if old is None or old.status != ev.bot.status:
                    dirty.add("bots-now")  # a status change is news: draw it at once
                if old is not None and old.status != ev.bot.status and ev.bot.status == "error":
                    toasts.append(
                        Toast(
                            f"{ev.bot.name}: {ev.bot.last_error or 'error'}", "error", "bot error"
                        )
                    )
            case m.BotRemoved():
                self.bots.pop(ev.name, None)
                dirty.add("bots-now")
                self.equity.pop(ev.name, None)
                self.flows.pop(ev.name, None)
                self.reasoning.pop(ev.name, None)
                self.history_asked.discard(ev.name)
                if self.reconcile.pop(ev.name, None):
                    dirty.add("reconcile")
                for key in [k for k in self.positions if k[0] == ev.name]:
                    del self.positions[key]
                for key in [k for k in self.candles if k[0] == ev.name]:
                    del self.candles[key]
                self.positions_version += 1
                dirty |= {"header", "bots", "positions", "equity", "reasoning"}
            case m.ReasoningStarted():
                self._entries(ev.bot).append(ReasoningEntry(ev.ts, ev.source))
                dirty.add("reasoning")
            case m.ReasoningChunk():
                entries = self._entries(ev.bot)
                if not entries or entries[-1].done:
                    entries.append(ReasoningEntry(ev.ts, ""))
                entries[-1].text += ev.text
                dirty.add("reasoning")
            case m.DecisionMade():
                entries = self._entries(ev.bot)
                if not entries or entries[-1].done:
                    entries.append(ReasoningEntry(ev.ts, ev.source))
                entry = entries[-1]
                entry.source = ev.source or entry.source
                if ev.reasoning:  # the parsed reasoning reads better than the raw stream
                    entry.text = ev.reasoning
                entry.actions, entry.verdict = ev.actions, ev.verdict
                entry.verdict_reasons, entry.done = ev.verdict_reasons, True
                dirty.add("reasoning")
            case m.OrderFilled():
                self.fills.append(ev)
                self.fills_total += 1
                dirty.add("fills")
                toasts.append(_fill_toast(ev))
            case m.RecentFills():
                self._merge_fills(ev.fills)
                dirty.add("fills")
            case m.PositionChanged():
                if ev.position is None:
                    self.positions.pop((ev.bot, ev.symbol), None)
                else:
                    self.positions[(ev.bot, ev.symbol)] = ev.position
                self.positions_version += 1
                dirty.add("positions")
            case m.CandleClosed():
                key = (ev.bot, ev.symbol)
                self.candles.setdefault(key, deque(maxlen=CANDLES_KEPT)).append(ev)
                self.candles_version += 1
                dirty.add("price")
            case m.EquitySampled():
                series = self.equity.setdefault(ev.bot, deque(maxlen=EQUITY_POINTS))
                series.append((ev.ts, float(ev.equity)))
                dirty.add("equity")
            case m.EquityHistory():
                self._merge_history(ev.bot, ev.points)
                self.flows[ev.bot] = sorted(set(self.flows.get(ev.bot, [])) | set(ev.flows))
                dirty.add("equity")
            case m.CapitalChanged():
                flows = self.flows.setdefault(ev.bot, [])
                if (ev.ts, ev.amount) not in flows:
                    flows.append((ev.ts, ev.amount))
                    flows.sort()
                dirty.add("equity")
            case m.DecisionHistory():
                self._merge_decisions(ev.bot, ev.decisions)
                dirty.add("reasoning")
            case m.ReconcileFound():
                if ev.items:
                    before = {i.id for i in self.reconcile.get(ev.bot, ())}
                    if any(i.id not in before for i in ev.items):
                        dirty.add("reconcile-new")  # news: the app opens the screen
                    self.reconcile[ev.bot] = ev.items
                else:
                    self.reconcile.pop(ev.bot, None)
                dirty.add("reconcile")
            case m.CycleFailed():
                toasts.append(
                    Toast(
                        f"{ev.bot}: cycle failed ({ev.consecutive}x): {ev.error}",
                        "error",
                        "cycle failed",
                    )
                )
            case m.EngineError():
                toasts.append(Toast(ev.message, "error", "engine error"))
            case m.Notice():
                severity = {"warning": "warning", "error": "error"}.get(ev.level, "information")
                toasts.append(Toast(ev.message, severity, ev.bot or "notice"))
            case m.CommandDone():
                asked = self.pending.pop(ev.request_id, "")
                quiet = ev.request_id in self.quiet
                self.quiet.discard(ev.request_id)
                shown = ev.request_id in self.refusal_shown
                self.refusal_shown.discard(ev.request_id)
                if not ev.ok:
                    if not shown:
                        toasts.append(
                            Toast(
                                ev.message or f"{ev.command} failed", "error", asked or ev.command
                            )
                        )
                elif asked and not quiet:
                    toasts.append(Toast(ev.message or "done", "information", asked))
                dirty.add("header")
                if ev.command == "ResolveReconcile":
                    dirty.add("reconcile")  # a refused choice is offered again
        return dirty, toasts

    def _want_history(self, names: object) -> None:
        for name in names:  # type: ignore[attr-defined]
            if name not in self.history_asked:
                self.history_asked.add(name)
                self.history_wanted.add(name)

    def _merge_history(self, bot: str, points: tuple[tuple[int, Decimal], ...]) -> None:
        """Stored points first, live samples (newer, or not stored yet) win on equal times."""
        merged = {ts: float(eq) for ts, eq in points}
        merged.update(self.equity.get(bot, ()))
        self.equity[bot] = deque(sorted(merged.items()), maxlen=EQUITY_POINTS)

    def _merge_fills(self, stored: tuple[m.OrderFilled, ...]) -> None:
        """Stored fills (after a restart or an attach) and live ones, once each, by time."""

        def key(f: m.OrderFilled) -> tuple[object, ...]:
            return (f.bot, f.client_order_id, f.ts, f.side, f.qty, f.price)

        live = {key(f): f for f in self.fills}
        merged = {**{key(f): f for f in stored}, **live}  # live ones carry realised P&L
        self.fills = deque(sorted(merged.values(), key=lambda f: f.ts), maxlen=FILLS_KEPT)
        self.fills_epoch += 1

    def _merge_decisions(self, bot: str, stored: tuple[m.DecisionMade, ...]) -> None:
        """Stored decisions (a restart, an attach) before the live ones already shown; a
        decision both stored and seen live is shown once."""
        entries = self._entries(bot)
        live = list(entries)
        seen = {(e.ts, e.source) for e in live if e.done}
        older = [
            ReasoningEntry(
                d.ts, d.source, d.reasoning, d.actions, d.verdict, d.verdict_reasons, True
            )
            for d in stored
            if (d.ts, d.source) not in seen and (not live or d.ts <= live[0].ts)
        ]
        entries.clear()
        entries.extend([*older, *live][-ENTRIES_KEPT:])

    def _entries(self, bot: str) -> deque[ReasoningEntry]:
        self.reasoning_version[bot] = self.reasoning_version.get(bot, 0) + 1
        return self.reasoning.setdefault(bot, deque(maxlen=ENTRIES_KEPT))


def _fill_toast(ev: m.OrderFilled) -> Toast:
    what = (
        f"{ev.side.upper()} {fmt.qty(ev.qty)} {fmt.short_symbol(ev.symbol)} @ {fmt.price(ev.price)}"
    )
    if ev.reason == "stop_loss":
        return Toast(f"{ev.bot}: STOP-LOSS hit, {what}", "warning", "stop-loss")
    if ev.reason == "take_profit":
        return Toast(f"{ev.bot}: TAKE-PROFIT hit, {what}", "information", "take-profit")
    return Toast(f"{ev.bot}: {what}", "information", "fill")


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key that reads numbers as numbers: llm2 before llm11 (plain text put it after)."""
    return [
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    ]
