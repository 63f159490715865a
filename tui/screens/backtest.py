"""The backtest screen: strategy, its parameters, a CSV file, a date range, costs and risk on
the left; the report and the equity curve on the right. Runs the backtest through
oxbot.app.backtests (what `oxbot backtest` runs too) in a thread worker (group "backtest"), never
on the UI loop; change anything and run again in place.

Opened for a bot (``B`` on the dashboard), it runs that bot as configured (`oxbot backtest
--bot`): its strategy (fixed) and params, all its symbols with one cash balance, its limits, fee
and slippage; the candles of each symbol come from a folder (files named like
``binance_BTC-USDT_1h.csv``, as the candle cache and ../shared hold them), and the report shows
one row per symbol, the total and the buy-and-hold baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Input, Label, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from oxbot.app import backtest_prices, backtests
from oxbot.app.backtests import MAX_CASH, NOT_BACKTESTABLE
from oxbot.engine.errors import OxbotError

from ..widgets.equity_chart import show_curve
from ..widgets.price_chart import PriceChart, PriceData
from ..widgets.tick_box import TickBox
from .bot_config import collect_errors, param_rows, read_params, remount_params, show_errors

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ohlcv"
FIELDS = (
    ("data", "Data (CSV file)"),
    ("since", "Since (UTC, optional)"),
    ("until", "Until (UTC, optional)"),
    ("cash", "Starting cash"),
    ("fee", "Fee rate (0.001=0.1%)"),
    ("slippage", "Slippage (bps)"),
)


class CurveChart(PlotextPlot):
    """The equity curve, drawn again when resized: how many y labels fit depends on its
    height (show_curve), and its height on whether the price chart is shown beside it."""

    curve: tuple[str, list[int], list[float]] | None = None

    def show(self, title: str, ts: list[int], values: list[float]) -> None:
        self.curve = (title, ts, values)
        show_curve(self, title, ts, values)

    def on_resize(self, _event: Resize) -> None:
        if self.curve is not None:
            show_curve(self, *self.curve)


def price_data(s: backtest_prices.PriceSeries, title: str) -> PriceData:
    """The price panel's data from a backtest's chart (oxbot.app.backtest_prices): the same
    candles, moving averages and fills as `oxbot backtest` draws."""
    mas = {
        name: [(int(t), v) for t, v in zip(s.ts.tolist(), values.tolist(), strict=True) if v == v]
        for name, values in s.mas.items()
    }
    return PriceData(
        title=title,
        ts=s.ts.tolist(),
        open=s.open.tolist(),
        high=s.high.tolist(),
        low=s.low.tolist(),
        close=s.close.tolist(),
        mas=mas,
        buys=list(s.buys),
        sells=list(s.sells),
        whole=True,
    )


def data_suggestions(folder: Path = DATA_DIR) -> list[str]:
    """CSV files next to the repository (../shared/data/ohlcv), 1h files first; [] if none."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.csv"), key=lambda p: ("_1h" not in p.name, p.name))
    return [str(p) for p in files]


@dataclass(frozen=True)
class BacktestRequest:
    strategy: str
    params: dict[str, Any]
    data: str
    since: str
    until: str
    cash: Decimal
    fee: Decimal
    slippage: Decimal
    risk: bool
    bot: Any = None  # a BotConfig: run it as configured, candles from the folder ``data``


class BacktestScreen(Screen[None]):
    # Below 100 columns (tui/styles/dialogs.tcss): a narrower form with labels above their
    # fields, the report in one column, the results pane scrolls.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding(
            "escape", "close", "Dashboard", id="backtest.close", tooltip="Back to the dashboard"
        ),
        Binding("ctrl+r", "run", "Run", id="backtest.run", tooltip="Run the backtest"),
        Binding(
            "ctrl+s",
            "sweep",
            "Sweep",
            id="backtest.sweep",
            tooltip="Sweep the strategy's parameters over these candles: a table and a heatmap",
        ),
    ]

    class Progressed(Message):
        def __init__(self, stage: str, fraction: float) -> None:
            super().__init__()
            self.stage, self.fraction = stage, fraction

    class Finished(Message):
        def __init__(
            self,
            metrics: dict[str, Any] | None,
            ts: Any,
            equity: Any,
            error: str = "",
            prices: PriceData | None = None,
        ) -> None:
            super().__init__()
            self.metrics, self.ts, self.equity, self.error = metrics, ts, equity, error
            self.prices = prices  # the price with the entries and exits (a bot's first symbol)

    def __init__(self, suggestions: list[str] | None = None, bot: Any = None) -> None:
        super().__init__()
        self.bot = bot  # a BotConfig, or None: one strategy over one CSV file
        if bot is not None and suggestions is None:
            suggestions = folder_suggestions()
        self._suggestions = data_suggestions() if suggestions is None else suggestions
        self._strategy = "sma_cross" if bot is None else bot.strategy
        self.last_metrics: dict[str, Any] | None = None
        self.last_error = ""

    def compose(self) -> ComposeResult:
        names = backtests.backtestable_names()
        with Horizontal(id="bt-body"):
            with VerticalScroll(id="bt-form"):
                yield Static(
                    "Backtest" if self.bot is None else f"Backtest bot {self.bot.name}",
                    id="bt-title",
                )
                with Horizontal(classes="field-row"):
                    yield Label("Strategy", classes="field-label")
                    yield Select(
                        [(n, n) for n in names],
                        value=self._strategy,
                        allow_blank=False,
                        id="bt-strategy",
                        compact=True,
                        disabled=self.bot is not None,
                    )
                yield Static(self._note(), id="bt-note")
                yield Static("Parameters", classes="section")
                yield Vertical(id="params-box")
                yield Static("Data and costs", classes="section")
                for key, label in FIELDS:
                    with Horizontal(classes="field-row"):
                        if key == "data" and self.bot is not None:
                            label = "Candles (folder)"
                        yield Label(label, classes="field-label")
                        yield self._input(key)
                    yield Static("", id=f"e-{key}", classes="field-error")
                yield TickBox(
                    "Risk manager (sizing, SL/TP)", value=True, id="bt-risk", compact=True
                )
                with Horizontal(id="bt-buttons"):
                    yield Button("Sweep…", id="bt-sweep")
                    yield Button("Run", id="bt-run", variant="primary")
            with VerticalScroll(id="bt-results"):
                yield ProgressBar(total=100, show_eta=False, id="bt-progress")
                yield Static("Set the fields and press Run (ctrl+r).", id="bt-report")
                yield CurveChart(id="bt-chart")
                yield PriceChart(id="bt-price")
        yield Footer(compact=True, show_command_palette=False)

    def _note(self) -> str:
        if self.bot is None:
            return "; ".join(NOT_BACKTESTABLE.values())
        b = self.bot
        return (
            f"{', '.join(b.symbols)} · {b.timeframe} · one cash balance, the bot's risk limits "
            "(position, exposure, SL/TP, daily loss, drawdown), as the live engine trades"
        )

    def _input(self, key: str) -> Input:
        b = self.bot
        default = {
            "data": self._suggestions[0] if self._suggestions else "",
            "cash": "10000" if b is None else f"{b.capital.normalize():f}",
            "fee": "0.001" if b is None else f"{b.fee_rate.normalize():f}",
            "slippage": "0" if b is None else f"{b.slippage_bps.normalize():f}",
        }.get(key, "")
        placeholder = {
            "data": "path/to/candles.csv (timestamp,open,high,low,close,volume)"
            if b is None
            else "folder of <exchange>_<BASE>-<QUOTE>_<timeframe>.csv files",
            "since": "YYYY-MM-DD",
            "until": "YYYY-MM-DD",
        }.get(key, "")
        return Input(
            default,
            id=f"bt-{key}",
            compact=True,
            placeholder=placeholder,
            suggester=SuggestFromList(self._suggestions, case_sensitive=False)
            if key == "data" and self._suggestions
            else None,
        )

    async def on_mount(self) -> None:
        values = {} if self.bot is None else dict(self.bot.params)
        await self.query_one("#params-box").mount_all(param_rows(self._strategy, values))
        self.query_one("#bt-risk", Checkbox).display = self.bot is None  # a bot: always
        self.query_one("#bt-progress", ProgressBar).display = False
        self.query_one("#bt-chart", PlotextPlot).display = False
        self.query_one("#bt-price", PriceChart).display = False
        self.validate()
        self.query_one("#bt-strategy").focus()

    # ------------------------------------------------------------------ validation

    def validate(self) -> BacktestRequest | None:
        """Check every field; show each error beside its field; Run only when all are valid."""
        from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415

        errors: dict[str, str] = {}
        raw = {k: self.query_one(f"#bt-{k}", Input).value.strip() for k, _ in FIELDS}
        try:
            params = (
                strategies()[self._strategy]
                .Params.model_validate(read_params(self, self._strategy))
                .model_dump(mode="json")
            )
        except ValidationError as e:
            collect_errors(e, errors, prefix="p-", whole="params")
            params = {}
        path = Path(raw["data"]).expanduser()
        if self.bot is not None:
            if not raw["data"] or not path.is_dir():
                errors["data"] = "give a folder of candle files (oxbot data download --out)"
            else:
                b = self.bot
                found = backtests.csv_in_folder(path, b.exchange, b.symbols, b.timeframe)
                missing = [s for s in b.symbols if s not in found]
                if missing:
                    errors["data"] = f"no {b.timeframe} file for {', '.join(missing)} there"
        elif not raw["data"]:
            errors["data"] = "give a CSV file (timestamp,open,high,low,close,volume)"
        elif not path.is_file():
            errors["data"] = f"{path} does not exist or is not a file"
        for key in ("since", "until"):
            if raw[key]:
                try:
                    parse_date(raw[key], key)
                except OxbotError as e:
                    errors[key] = str(e)
        numbers: dict[str, Decimal] = {}
        for key, lo, hi, strict in (
            ("cash", 0, None, True),
            ("fee", 0, Decimal("0.1"), False),
            ("slippage", 0, None, False),
        ):
            try:
                v = Decimal(raw[key])
                if not v.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                errors[key] = f"{raw[key]!r} is not a number"
                continue
            if v < lo or (strict and v == lo):
                errors[key] = f"must be {'>' if strict else '>='} {lo}"
            elif key == "cash" and v > MAX_CASH:
                errors[key] = f"at most {MAX_CASH:,.0f}"
            elif hi is not None and v >= hi:
                errors[key] = "a rate per fill below 0.1, e.g. 0.001 for 0.1 %"
            numbers[key] = v
        show_errors(self, errors)
        self.query_one("#bt-run", Button).disabled = bool(errors)
        if errors:
            return None
        return BacktestRequest(
            self._strategy,
            params,
            str(path),
            raw["since"],
            raw["until"],
            numbers["cash"],
            numbers["fee"],
            numbers["slippage"],
            self.query_one("#bt-risk", Checkbox).value or self.bot is not None,
            None if self.bot is None else self.bot.model_copy(update={"params": params}),
        )

    @on(Input.Changed)
    def _changed(self) -> None:
        self.validate()

    @on(Select.Changed, "#bt-strategy")
    async def _strategy_changed(self, event: Select.Changed) -> None:
        if event.value == self._strategy or event.value is Select.BLANK:
            return
        self._strategy = str(event.value)
        await remount_params(self, self._strategy)
        self.validate()

    # ------------------------------------------------------------------ running

    @on(Button.Pressed, "#bt-run")
    def action_run(self) -> None:
        request = self.validate()
        if request is None:
            self.notify("Fix the fields marked ↳ first.", severity="warning")
            return
        bar = self.query_one("#bt-progress", ProgressBar)
        bar.display = True
        bar.update(progress=0)
        self.query_one("#bt-report", Static).update("Running…")
        self.query_one("#bt-run", Button).disabled = True
        self._run(request)

    @work(thread=True, group="backtest", exclusive=True, exit_on_error=False)
    def _run(self, req: BacktestRequest) -> None:
        last = [-1.0]
        stages = {"loading": 0.0, "indicators": 0.1, "simulate": 0.2, "metrics": 0.95}

        def progress(stage: str, fraction: float) -> None:
            done = stages.get(stage, 0.0) + fraction * (0.75 if stage == "simulate" else 0.05)
            if done - last[0] >= 0.02:  # a few dozen UI updates per run, not one per bar
                last[0] = done
                self.post_message(self.Progressed(stage, done))

        if req.bot is not None:
            self._run_bot(req, progress)
            return
        try:
            progress("loading", 0.0)
            frame = _trim(backtests.load_candles(req.data), req)
            spec = backtests.Backtest(
                backtests.strategy(req.strategy, req.params),
                source=req.data,
                symbol=backtests.symbol_from_name(req.data),
                cash=req.cash,
                fee_rate=req.fee,
                slippage_bps=req.slippage,
                use_risk=req.risk,
            )
            outcome = backtests.run(frame, spec, progress)
        except OxbotError as e:  # bad file, too few bars, bad parameter: the user's to fix
            self.post_message(self.Finished(None, None, None, str(e)))
            return
        result = outcome.result
        series = backtest_prices.single(frame, spec.strategy, outcome)
        prices = price_data(series, f"{spec.symbol}: entries ▲, exits ▼")
        self.post_message(self.Finished(outcome.metrics, result.ts, result.equity, "", prices))

    def _run_bot(self, req: BacktestRequest, progress: Any) -> None:
        """The bot as configured, over the folder's files (on the worker thread)."""
        from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415

        try:
            progress("loading", 0.0)
            b = req.bot
            csv = backtests.csv_in_folder(Path(req.data), b.exchange, b.symbols, b.timeframe)
            spec = backtests.BotBacktest(
                b.model_copy(update={"fee_rate": req.fee, "slippage_bps": req.slippage}),
                csv,
                req.cash,
                parse_date(req.since, "since") if req.since else None,
                parse_date(req.until, "until") if req.until else None,
            )
            strat = backtests.strategy(b.strategy, b.params)
            frames = backtests.bot_frames(spec)
            outcome = backtests.run_bot(spec, frames, lambda f: progress("simulate", f))
        except OxbotError as e:  # missing or disjoint candles: the user's to fix
            self.post_message(self.Finished(None, None, None, str(e)))
            return
        result = outcome.result
        charts = backtest_prices.of_bot(frames, outcome, strat)
        title = f"{charts[0].symbol}: entries ▲, exits ▼"
        if len(charts) > 1:  # one panel: the first symbol (`oxbot backtest --chart`: all)
            title += f" · 1 of {len(charts)} symbols"
        prices = price_data(charts[0], title)
        self.post_message(self.Finished(outcome.metrics, result.ts, result.equity, "", prices))

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        self.query_one("#bt-progress", ProgressBar).update(progress=event.fraction * 100)

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        self.query_one("#bt-progress", ProgressBar).display = False
        self.query_one("#bt-run", Button).disabled = False
        report = self.query_one("#bt-report", Static)
        chart = self.query_one("#bt-chart", CurveChart)
        if event.metrics is None:
            self.last_error, self.last_metrics = event.error, None
            report.update(Text(f"✖ {event.error}", style="bold"))
            report.set_class(True, "error")
            chart.display = False
            self.query_one("#bt-price", PriceChart).display = False
            return
        self.last_error, self.last_metrics = "", event.metrics
        report.set_class(False, "error")
        report.update(report_text(event.metrics, columns=self._columns()))
        chart.display = True
        self.call_after_refresh(
            chart.show, "equity (marked at each close)", event.ts.tolist(), event.equity.tolist()
        )
        price = self.query_one("#bt-price", PriceChart)
        price.display = event.prices is not None
        if event.prices is not None:
            self.call_after_refresh(price.show, event.prices)

    def _columns(self) -> int:
        return 1 if self.has_class("-narrow") else 2

    def on_resize(self) -> None:
        self.call_after_refresh(self._reflow)  # after the breakpoint class is set

    def _reflow(self) -> None:
        if self.last_metrics is not None:  # across the breakpoint: one column or two
            text = report_text(self.last_metrics, columns=self._columns())
            self.query_one("#bt-report", Static).update(text)

    def action_close(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#bt-sweep")
    def action_sweep(self) -> None:
        """The sweep view (tui/screens/sweep.py) over this form's data, costs and parameters."""
        from .sweep import SweepScreen  # noqa: PLC0415

        request = self.validate()
        if request is None:
            self.notify("Fix the fields marked ↳ first.", severity="warning")
            return
        self.app.push_screen(SweepScreen(request))


def _trim(frame: Any, req: BacktestRequest) -> Any:
    """The candles between the request's dates, or the screen's words for none."""
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    try:
        return backtests.between(
            frame,
            parse_date(req.since, "since") if req.since else None,
            parse_date(req.until, "until") if req.until else None,
        )
    except backtests.EmptyRange:
        raise DataError(
            f"{Path(req.data).name} has no candles between "
            f"{req.since or '(start)'} and {req.until or '(end)'}"
        ) from None


def report_text(m: dict[str, Any], columns: int = 2) -> Text:
    """The metrics a trader reads first, in two aligned columns (one on a narrow screen), signs
    as text, then what the ratios mean."""

    def num(v: Any, spec: str = ",.2f", unit: str = "") -> str:
        return "n/a" if v is None else f"{Decimal(str(v)):{spec}}{unit}"

    def hold(hours: Any) -> str:
        return backtests.span(None if hours is None else hours * 3_600_000)

    rows = [
        ("trades", f"{m['trades']:,}"),
        ("final equity", num(m["final_equity"])),
        ("return", num(m["return_pct"], "+,.2f", " %")),
        ("buy & hold", num(m["buy_hold_return_pct"], "+,.2f", " %")),
        ("CAGR", num(m["cagr_pct"], "+,.2f", " %")),
        ("max drawdown", num(m["max_drawdown_pct"], ".2f", " %")),
        ("drawdown time", hold(m["max_drawdown_duration_h"])),
        ("exposure", num(m["exposure_pct"], ".1f", " %")),
        ("fees paid", num(m["fees_paid"])),
        ("Sharpe", num(m["sharpe"], ".2f")),
        ("Sortino", num(m["sortino"], ".2f")),
        ("Calmar", num(m["calmar"], ",.2f")),
        ("win rate", num(m["win_rate"], ".1f", " %")),
        ("profit factor", num(m["profit_factor"], ".2f")),
        ("expectancy", num(m["expectancy"], "+,.2f")),
        ("trades/day", num(m["trades_per_day"], ",.2f")),
        ("average hold", hold(m["avg_holding_h"])),
    ]
    params = " ".join(f"{k}={v}" for k, v in m["params"].items())
    text = Text()
    text.append(f"{m['strategy']} {params}".strip(), style="bold")
    text.append(
        f" on {m['symbol']}, {m['bars']:,} bars, "
        f"{'risk-managed' if m['risk'] else 'no risk (all-in)'}\n"
    )
    if "per_symbol" in m:  # a bot: its symbols first, the total and buy and hold
        text.append_text(symbol_text(m, wide=columns == 2))
    half = (len(rows) + 1) // 2 if columns == 2 else len(rows)
    for i in range(half):
        pair = (rows[i], rows[i + half] if i + half < len(rows) else ("", ""))
        for n, (label, value) in enumerate(pair):
            text.append(f"{label:<14}", style="dim")  # the longest label and a space
            text.append(f"{value:>11}" + ("   " if n == 0 else ""))
        text.append("\n")
    for line in backtests.ratio_legend(m):
        text.append(f"{line}\n", style="dim")
    text.no_wrap = True  # a narrow pane crops the right column rather than mixing rows
    return text


def symbol_text(m: dict[str, Any], wide: bool = True) -> Text:
    """A bot backtest's rows: one per symbol, the total, and buy and hold over the symbols
    (the start cash split equally, the same fees). Narrow: without win rate and fees."""

    def num(v: Any, spec: str = "+,.2f") -> str:
        return "n/a" if v is None else f"{Decimal(str(v)):{spec}}"

    text = Text()
    head = f"{'symbol':<11}{'trades':>7}" + (f"{'win %':>7}" if wide else "") + f"{'P&L':>11}"
    head += (f"{'fees':>9}" if wide else "") + f"{'hold %':>9}\n"
    text.append(head, style="dim")
    total = Decimal(m["final_equity"]) - Decimal(m["start_cash"])
    rows = [
        (r["symbol"], r["trades"], r["win_rate"], r["pnl"], r["fees"], r["buy_hold_return_pct"])
        for r in m["per_symbol"]
    ]
    rows.append(
        ("total", m["trades"], m["win_rate"], total, m["fees_paid"], m["buy_hold_return_pct"])
    )
    for sym, trades, win, pnl, fees, hold in rows:
        line = f"{sym:<11}{trades:>7,}" + (f"{num(win, '.1f'):>7}" if wide else "")
        line += f"{num(pnl):>11}" + (f"{num(fees, ',.2f'):>9}" if wide else "")
        line += f"{num(hold):>9}\n"
        text.append(line, style="bold" if sym == "total" else "")
    return text


def folder_suggestions() -> list[str]:
    """Folders of candle files: the candle cache (oxbot data download), ../shared's data."""
    cache = backtests.candle_cache("sim", "BTC/USDT", "1h").parent
    return [str(p) for p in (cache, DATA_DIR) if p.is_dir()]


def strategies() -> Any:
    """The strategy registry, imported on first use: it loads pandas, which the cockpit's
    first frame does not need."""
    from oxbot.engine.strategies import REGISTRY  # noqa: PLC0415

    return REGISTRY
