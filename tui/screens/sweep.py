"""The sweep view of the backtest screen (ctrl+s there): the strategy's numeric parameters as
from/to/step grids (pre-filled from the schema's ranges), an objective, a held-out % or
walk-forward folds; runs oxbot.app.sweeps.run_sweep (what `oxbot backtest --sweep` runs) in a
thread worker with a progress bar, then shows the table and a heatmap of two parameters.

The data, the costs, the risk switch and the parameters not swept come from the backtest
screen's form. Escape during a sweep cancels it: the progress callback raises in the worker
thread, run_sweep's process pool shuts down (its workers exit) and the screen says so.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from oxbot.engine.errors import OxbotError

from ..widgets.sweep_heatmap import SweepHeatmap, pairs
from ..widgets.sweep_table import SweepTable
from .bot_config import show_errors

if TYPE_CHECKING:
    from oxbot.app.sweeps import BotSource, CandleSource, Plan
    from oxbot.engine.backtest.sweep import Axis, FieldRange, SweepResult

    from .backtest import BacktestRequest

MODES = [("held out: the last % of the range", "holdout"), ("walk-forward: K folds", "walk")]
HELD_DEFAULT = {"holdout": "30", "walk": "4"}


class SweepCancelled(Exception):
    """Raised in the worker thread by the progress callback once escape asked to stop."""


@dataclass(frozen=True)
class SweepRequest:
    plan: Plan
    source: CandleSource | BotSource  # one CSV, or a stored bot as configured
    jobs: int


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def tracker_ready() -> None:
    """Start multiprocessing's resource tracker (the process pool needs it) with a real stderr.
    The tracker hands ``sys.stderr.fileno()`` to its process (multiprocessing/resource_tracker.py,
    ensure_running), and while the cockpit runs sys.stderr is Textual's capture, whose fileno()
    is -1 (textual/app.py, _PrintCapture): the pool would fail with "bad value(s) in
    fds_to_keep". Its warnings go to /dev/null rather than over the cockpit's screen."""
    from multiprocessing import resource_tracker  # noqa: PLC0415

    try:
        if sys.stderr.fileno() >= 0:
            resource_tracker.ensure_running()
            return
    except (AttributeError, OSError, ValueError):
        pass
    saved = sys.stderr
    with open(os.devnull, "w") as null:
        sys.stderr = null
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


def prefill(f: FieldRange, current: Any) -> tuple[str, str, str]:
    """from, to, step for a numeric field: its schema range in about four steps (a bound it
    excludes, gt/lt, moved in by one step); the current value alone when it has no range."""
    if not f.bounded():
        return str(current), str(current), "1"
    assert f.lo is not None and f.hi is not None
    if f.kind == "int":
        step_i = max(1, -(-int(f.hi - f.lo) // 4))
        lo_i = int(f.lo) + (step_i if f.lo_open else 0)
        hi_i = int(f.hi) - (step_i if f.hi_open else 0)
        return str(lo_i), str(hi_i), str(step_i)
    step = (Decimal(str(f.hi)) - Decimal(str(f.lo))) / 4
    lo = Decimal(str(f.lo)) + (step if f.lo_open else 0)
    hi = Decimal(str(f.hi)) - (step if f.hi_open else 0)
    return (_plain(lo), _plain(hi), _plain(step))


def _plain(d: Decimal) -> str:
    text = f"{d:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class SweepScreen(Screen[None]):
    CSS_PATH = str(Path(__file__).parents[1] / "styles" / "sweep.tcss")
    BINDINGS = [
        Binding(
            "escape",
            "back",
            "Back",
            id="sweep.back",
            tooltip="Cancel the running sweep; otherwise back to the backtest",
        ),
        Binding("ctrl+r", "run", "Run", id="sweep.run", tooltip="Run the sweep"),
        Binding(
            "ctrl+o", "export", "Export", id="sweep.export", tooltip="Write the result as CSV+JSON"
        ),
        Binding("1", "tab('sw-setup')", "Setup", id="sweep.setup", show=False),
        Binding("2", "tab('sw-table-tab')", "Table", id="sweep.table", show=False),
        Binding("3", "tab('sw-heat-tab')", "Heatmap", id="sweep.heatmap", show=False),
        Binding("p", "pair", "Pair", id="sweep.pair", tooltip="The heatmap's next parameter pair"),
        Binding(
            "h", "side", "In/held-out", id="sweep.side", tooltip="Heatmap: in-sample or held-out"
        ),
    ]

    class Progressed(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    class Finished(Message):
        def __init__(self, result: SweepResult | None, error: str = "") -> None:
            super().__init__()
            self.result, self.error = result, error

    def __init__(self, request: BacktestRequest) -> None:
        super().__init__()
        from oxbot.engine.backtest.sweep import field_ranges  # noqa: PLC0415
        from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

        self.request = request
        ranges = field_ranges(strategy_class(request.strategy).Params)
        self.ranges = {n: r for n, r in ranges.items() if r.kind in ("int", "float")}
        self.result: SweepResult | None = None
        self.last_error = ""
        self.running = False
        self._cancel = threading.Event()
        self.side = "in_sample"
        self.pair_index = 0
        self.last_export: Path | None = None  # the exported files' path without .csv/.json

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        r = self.request
        title = Text()
        title.append(f"Sweep {r.strategy}", style="bold")
        title.append(
            f" · {Path(r.data).name} · cash {r.cash:,} · fee {r.fee} · slip {r.slippage} bps"
            f" · {'risk' if r.risk else 'all-in'}"
        )
        yield Static(title, id="sw-title")
        with Horizontal(id="sw-status"):
            yield ProgressBar(total=1, show_eta=False, id="sw-progress")
            yield Static("", id="sw-status-text")
        with TabbedContent(initial="sw-setup", id="sw-tabs"):
            with TabPane("1 Setup", id="sw-setup"), VerticalScroll(id="sw-form"):
                yield from self._form()
            with TabPane("2 Table", id="sw-table-tab"), Vertical():
                yield Static("", id="sw-summary")
                yield SweepTable(id="sw-table")
            with TabPane("3 Heatmap", id="sw-heat-tab"), ScrollableContainer(id="sw-heat-box"):
                yield SweepHeatmap(id="sw-heatmap")
        yield Footer(compact=True, show_command_palette=False)

    def _form(self) -> ComposeResult:
        from oxbot.engine.backtest.sweep import DEFAULT_OBJECTIVE, OBJECTIVES  # noqa: PLC0415

        yield Static(
            "Parameters: from, to, step (inclusive; from = to holds a value fixed)",
            classes="section",
        )
        with Horizontal(classes="sw-row sw-head"):
            yield Label("", classes="sw-name")
            for word in ("from", "to", "step"):
                yield Label(word, classes="sw-num-head")
        for name, f in self.ranges.items():
            lo, hi, step = prefill(f, self.request.params.get(name))
            with Horizontal(classes="sw-row"):
                yield Label(f"{name.replace('_', ' ')} ({f.text()})", classes="sw-name")
                for part, value in (("from", lo), ("to", hi), ("step", step)):
                    yield Input(value, id=f"sw-{part}-{name}", compact=True, classes="sw-num")
            yield Static("", id=f"e-sw-{name}", classes="field-error")
        if not self.ranges:
            yield Static("(this strategy has no numeric parameter to sweep)", classes="dim")
        with Horizontal(classes="sw-row"):
            yield Label("Objective", classes="sw-name")
            yield Select(
                [(k, k) for k in OBJECTIVES],
                value=DEFAULT_OBJECTIVE,
                allow_blank=False,
                id="sw-objective",
                compact=True,
            )
        with Horizontal(classes="sw-row"):
            yield Label("Judged on", classes="sw-name")
            yield Select(MODES, value="holdout", allow_blank=False, id="sw-mode", compact=True)
        with Horizontal(classes="sw-row"):
            yield Label("Held out %", classes="sw-name", id="sw-held-label")
            yield Input(HELD_DEFAULT["holdout"], id="sw-held", compact=True, classes="sw-num")
        yield Static("", id="e-sw-held", classes="field-error")
        with Horizontal(classes="sw-row"):
            yield Label("Processes", classes="sw-name")
            yield Input(str(default_jobs()), id="sw-jobs", compact=True, classes="sw-num")
        yield Static("", id="e-sw-jobs", classes="field-error")
        yield Static("", id="e-sw-grid", classes="field-error")
        with Horizontal(id="sw-buttons"):
            yield Static("", id="sw-plan")
            yield Button("Run sweep", id="sw-run", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#sw-progress", ProgressBar).display = False
        self._status("")
        self.watch(self.app, "theme", self._recolour, init=False)
        self.validate()
        first = self.query(".sw-num")
        if first:
            first.first().focus()

    # ------------------------------------------------------------------ the form

    def validate(self) -> SweepRequest | None:
        """Every field checked with the CLI's own rules (oxbot.engine.backtest.sweep); each
        error beside its field; Run only when all are valid."""
        from oxbot.app.sweeps import Plan  # noqa: PLC0415
        from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
        from oxbot.engine.backtest.sweep import MAX_COMBINATIONS, parse_holdout  # noqa: PLC0415

        errors: dict[str, str] = {}
        axes: list[Axis] = []
        fixed = {k: v for k, v in self.request.params.items() if k not in self.ranges}
        for name, f in self.ranges.items():
            try:
                axis_or_value = self._axis(name, f)
            except OxbotError as e:
                errors[f"sw-{name}"] = str(e).replace("--sweep ", "")
                continue
            if isinstance(axis_or_value, tuple):
                fixed[name] = axis_or_value[0]
            else:
                axes.append(axis_or_value)
        mode = self.query_one("#sw-mode", Select).value
        held = self.query_one("#sw-held", Input).value.strip()
        holdout = holdout_text = folds = None
        try:
            if mode == "walk":
                folds = int(held)
                if not 1 <= folds <= 20:
                    raise ValueError
            else:
                holdout = parse_holdout(held)
                holdout_text = f"{holdout * 100:f}".rstrip("0").rstrip(".") + "%"
        except (ValueError, OxbotError):
            errors["sw-held"] = (
                "folds: a whole number from 1 to 20, e.g. 4"
                if mode == "walk"
                else "a percentage from 1 to 90, e.g. 30"
            )
        jobs_text = self.query_one("#sw-jobs", Input).value.strip()
        jobs = int(jobs_text) if jobs_text.isdigit() else 0
        if not 1 <= jobs <= 64:
            errors["sw-jobs"] = "processes: a whole number from 1 to 64 (this one included)"
        plan_text = ""
        if not axes and not any(f"sw-{n}" in errors for n in self.ranges):
            errors["sw-grid"] = "give at least one parameter a range (from below to)"
        elif axes:
            count = math.prod(len(a.values) for a in axes)  # grid() would build them all
            if count > MAX_COMBINATIONS:
                errors["sw-grid"] = (
                    f"{count:,} combinations, more than {MAX_COMBINATIONS:,}: use larger steps "
                    "or hold a parameter fixed"
                )
            else:
                plan_text = f"{count:,} combination{'s' if count != 1 else ''}"
        show_errors(self, errors)
        self.query_one("#sw-plan", Static).update(plan_text)
        self.query_one("#sw-run", Button).disabled = bool(errors) or self.running
        if errors:
            return None
        r = self.request
        from oxbot.engine.backtest.sweep import objective_key  # noqa: PLC0415

        objective = str(self.query_one("#sw-objective", Select).value)
        objective_key(objective)
        since_ms = parse_date(r.since, "since") if r.since else None
        until_ms = parse_date(r.until, "until") if r.until else None
        source: CandleSource | BotSource
        if r.bot is not None:  # the bot as configured: all its symbols, one shared cash
            from oxbot.app.backtests import csv_in_folder  # noqa: PLC0415
            from oxbot.app.sweeps import BotSource  # noqa: PLC0415

            b = r.bot
            csv = csv_in_folder(Path(r.data).expanduser(), b.exchange, b.symbols, b.timeframe)
            source = BotSource(b, csv, r.cash, since_ms, until_ms)
        else:
            source = self._candle_source(r, fixed, since_ms, until_ms)
        plan = Plan(
            strategy=r.strategy,
            objective=objective,
            axes=axes,
            fixed=fixed,
            holdout=holdout,
            holdout_text=holdout_text,
            folds=folds,
        )
        return SweepRequest(plan, source, jobs)

    @staticmethod
    def _candle_source(
        r: BacktestRequest, fixed: dict[str, Any], since_ms: int | None, until_ms: int | None
    ) -> CandleSource:
        from oxbot.app.backtests import symbol_from_name  # noqa: PLC0415
        from oxbot.app.sweeps import CandleSource  # noqa: PLC0415

        return CandleSource(
            path=r.data,
            strategy=r.strategy,
            symbol=symbol_from_name(r.data),
            cash=r.cash,
            fee_rate=r.fee,
            slippage_bps=r.slippage,
            use_risk=r.risk,
            fixed=fixed,
            since_ms=since_ms,
            until_ms=until_ms,
        )

    def _axis(self, name: str, f: FieldRange) -> Axis | tuple[Any]:
        """The grid of one parameter, or (value,) when from = to (held fixed)."""
        from oxbot.engine.backtest.sweep import parse_sweep, parse_value  # noqa: PLC0415

        lo, hi, step = (
            self.query_one(f"#sw-{p}-{name}", Input).value.strip() for p in ("from", "to", "step")
        )
        if lo == hi:
            return (parse_value(lo, f, name),)
        return parse_sweep(f"{name}={lo}:{hi}:{step}", {name: f})

    @on(Input.Changed)
    def _changed(self) -> None:
        self.validate()

    @on(Select.Changed, "#sw-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        mode = str(event.value)
        self.query_one("#sw-held-label", Label).update(
            "Folds (K)" if mode == "walk" else "Held out %"
        )
        self.query_one("#sw-held", Input).value = HELD_DEFAULT[mode]
        self.validate()

    # ------------------------------------------------------------------ running

    @on(Button.Pressed, "#sw-run")
    def action_run(self) -> None:
        if self.running:
            return
        request = self.validate()
        if request is None:
            self.notify("Fix the fields marked ↳ first.", severity="warning")
            return
        self.running = True
        self._cancel = threading.Event()
        bar = self.query_one("#sw-progress", ProgressBar)
        bar.display = True
        bar.update(total=1, progress=0)
        self._status("Starting the sweep… (escape cancels)")
        self.query_one("#sw-run", Button).disabled = True
        self._sweep(request, self._cancel)

    @work(thread=True, group="sweep", exclusive=True, exit_on_error=False)
    def _sweep(self, req: SweepRequest, cancel: threading.Event) -> None:
        from oxbot.app.sweeps import run_sweep  # noqa: PLC0415

        last = [0.0]

        def progress(done: int, total: int) -> None:
            if cancel.is_set():
                raise SweepCancelled
            now = time.monotonic()
            if done >= total or now - last[0] >= 0.1:  # at most ten UI updates a second
                last[0] = now
                self.post_message(self.Progressed(done, total))

        try:
            if req.jobs > 1:
                tracker_ready()
            local = req.source.load()
            result = run_sweep(req.plan, req.source, req.jobs, progress, local)
        except SweepCancelled:
            self.post_message(self.Finished(None, "cancelled"))
            return
        except OxbotError as e:  # bad file, too few bars, nothing can run: the user's to fix
            self.post_message(self.Finished(None, str(e)))
            return
        except Exception as e:  # a worker process died, ...: said, never a stuck "running"
            self.post_message(self.Finished(None, f"{type(e).__name__}: {e}"))
            return
        self.post_message(self.Finished(result))

    def _status(self, text: str | Text) -> None:
        """The line under the title: the progress, a cancel or an error; hidden when empty."""
        self.query_one("#sw-status-text", Static).update(text)
        self.query_one("#sw-status").display = bool(text) or self.running

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        if not self.running:
            return
        self.query_one("#sw-progress", ProgressBar).update(total=event.total, progress=event.done)
        self._status(f"{event.done:,}/{event.total:,} backtests (escape cancels)")

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        self.running = False
        self.query_one("#sw-progress", ProgressBar).display = False
        self.validate()
        if event.result is None:
            self.last_error = event.error
            if event.error == "cancelled":
                self._status(Text("Sweep cancelled; its processes are stopped.", style="bold"))
            else:
                self._status(Text(f"✖ {event.error}", style="bold"))
            return
        self.last_error = ""
        self.result = event.result
        self._status("")
        self.query_one("#sw-summary", Static).update(summary_text(event.result))
        self.query_one("#sw-table", SweepTable).show(event.result)
        self.pair_index, self.side = 0, "in_sample"
        self._heatmap()
        self.query_one("#sw-tabs", TabbedContent).active = "sw-table-tab"
        self.query_one("#sw-table", SweepTable).focus()
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.running:
            if not self._cancel.is_set():
                self._cancel.set()
                self._status("Cancelling: stopping the worker processes…")
            return
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._cancel.set()  # the app closing mid-sweep: the worker stops at its next step

    # ------------------------------------------------------------------ results

    def action_tab(self, tab: str) -> None:
        self.query_one("#sw-tabs", TabbedContent).active = tab
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()
        if self.result is not None:  # the heatmap's pane has its size now
            self.call_after_refresh(self._heatmap)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pair", "side"):
            on_map = self.query_one("#sw-tabs", TabbedContent).active == "sw-heat-tab"
            r = self.result
            if not on_map or r is None or r.folds:
                return False
            return True if action == "side" or len(pairs(r)) > 1 else None
        if action == "export":
            return True if self.result is not None else None
        return True

    def action_pair(self) -> None:
        if self.result is not None:
            self.pair_index = (self.pair_index + 1) % len(pairs(self.result))
            self._heatmap()

    def action_side(self) -> None:
        self.side = "held_out" if self.side == "in_sample" else "in_sample"
        self._heatmap()

    def _heatmap(self) -> None:
        heat = self.query_one("#sw-heatmap", SweepHeatmap)
        heat.room = self.query_one("#sw-heat-box").size.width or self.size.width - 2
        heat.show(self.result, self.pair_index, self.side)

    def _recolour(self) -> None:
        """Another theme: the table's and the heatmap's colours are the theme's."""
        if self.result is not None:
            self.query_one("#sw-table", SweepTable).show(self.result)
            self._heatmap()

    def on_resize(self) -> None:
        if self.result is not None:
            self.call_after_refresh(self._heatmap)

    def action_export(self) -> None:
        if self.result is None:
            self.notify("Run a sweep first.", severity="warning")
            return
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        symbol = (self.result.symbol or "data").replace("/", "-")
        self._export(self.result, f"{self.result.strategy}_{symbol}_{stamp}")

    @work(thread=True, group="sweep-export", exit_on_error=False)
    def _export(self, result: SweepResult, name: str) -> None:
        """``<data dir>/sweeps/<name>.csv`` and ``.json`` (the folders made here, off the UI)."""
        from oxbot.app.sweep_export import write_out  # noqa: PLC0415
        from oxbot.storage.paths import data_dir  # noqa: PLC0415 - path maths, the folder

        try:
            base = data_dir() / "sweeps" / name
            base.parent.mkdir(parents=True, exist_ok=True)
            for suffix in (".csv", ".json"):
                write_out(result, f"{base}{suffix}")
        except OSError as e:
            self.app.call_from_thread(
                self.notify, f"Export failed: {e}", severity="error", timeout=10
            )
            return
        self.last_export = base
        self.app.call_from_thread(
            self.notify,
            f"Wrote {base}.csv and .json",
            title="Sweep exported",
            timeout=10,
        )


def summary_text(r: SweepResult) -> Text:
    """What was swept, how it is ranked and what was held out, in a line or two."""
    from oxbot.app.backtests import utc  # noqa: PLC0415
    from oxbot.engine.backtest.sweep import skipped_text, unranked  # noqa: PLC0415

    t = Text()
    warning = unranked(r)
    if warning:
        t.append(warning[0].upper() + warning[1:] + ".\n", style="bold")
    t.append(f"{r.total:,} combinations", style="bold")
    fixed = ", ".join(f"{k}={v}" for k, v in r.fixed.items())
    t.append(f"{f' ({fixed} fixed)' if fixed else ''} ranked by in-sample {r.objective} (bold),")
    t.append(" n/a last.")
    if r.split_ts is not None and not r.folds:
        t.append(f" Held out ({r.holdout}, never seen by the sweep): from {utc(r.split_ts)}.")
    skipped = skipped_text(r.skipped, r.total)
    if skipped:
        t.append(f" {skipped}.", style="dim")
    failed = skipped_text(r.failed, r.total, "combinations", "failed")
    if failed:  # the strategy's own code raised for these sets: its file:line
        t.append(f"\n{failed}.", style="bold")
    if r.folds:
        t.append(
            f"\nWalk-forward, {len(r.folds)} folds: each row is a fold's best set on its train "
            "window, scored on the window after it."
        )
        if r.combined is not None:
            c = r.combined
            t.append(
                f" Chained held-out: return {c['return_pct']:,.2f} %, {c['trades']} trades.",
                style="bold",
            )
        for f in r.folds:
            day = "%Y-%m-%d"
            t.append(
                f"\nfold {f.index + 1}: train {utc(f.train_ts[0], day)}..{utc(f.train_ts[1], day)}"
                f", held out {utc(f.test_ts[0], day)}..{utc(f.test_ts[1], day)}",
                style="dim",
            )
    return t
