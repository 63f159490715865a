"""The bot configuration form: every field of BotConfig plus the strategy's own parameters,
generated from its Params model. Validated on every keystroke by the same pydantic models the
engine uses; errors sit under their field; Save stays disabled until everything is valid. The
modal returns a complete BotConfig or None, so nothing is ever half-saved.
"""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from oxbot.engine.models import TIMEFRAMES, BotConfig, Mode
from oxbot.engine.strategies import REGISTRY

from .confirm import ConfirmScreen

RISK_LABELS = {
    "max_position_pct": "Max position % equity", "max_exposure_pct": "Max exposure % equity",
    "stop_loss_pct": "Stop-loss %", "take_profit_pct": "Take-profit %",
    "min_notional": "Min order notional", "daily_loss_limit_pct": "Daily loss limit %",
    "max_drawdown_pct": "Max drawdown % (kill)",
}
BASIC = (("name", "Name"), ("exchange", "Exchange"), ("symbols", "Symbols (comma sep.)"),
         ("capital", "Capital (quote)"), ("cadence_s", "Cadence s (0 = every bar)"),
         ("fee_rate", "Fee rate (0.001 = 0.1%)"), ("slippage_bps", "Slippage (bps)"))


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


class BotConfigScreen(ModalScreen[BotConfig | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="config.cancel"),
        Binding("ctrl+s", "save", "Save", id="config.save"),
    ]

    def __init__(self, config: BotConfig | None, *,
                 taken: set[str] | frozenset[str] = frozenset()) -> None:
        super().__init__()
        self._original = config
        self._taken = set(taken) - ({config.name} if config else set())
        self._mode = config.mode if config else Mode.PAPER
        self._strategy = config.strategy if config else "sma_cross"
        self._errors: dict[str, str] = {}
        self.result_config: BotConfig | None = None

    # ------------------------------------------------------------------ building the form

    def compose(self) -> ComposeResult:
        c = self._original or BotConfig(name="new-bot")
        title = f"Configure {c.name}" if self._original else "New bot"
        with Vertical(id="config-box"):
            yield Static(title, id="config-title")
            with VerticalScroll(id="config-fields"):
                for key, label in BASIC:
                    yield from self._field(key, label, Input(
                        _text(getattr(c, key)) if self._original or key != "name" else "",
                        id=f"f-{key}", compact=True, disabled=key == "name" and bool(
                            self._original), placeholder="e.g. my-bot" if key == "name" else ""))
                yield from self._field("timeframe", "Timeframe", Select(
                    [(tf, tf) for tf in TIMEFRAMES], value=c.timeframe, allow_blank=False,
                    id="f-timeframe", compact=True))
                yield from self._field("mode", "Mode", Select(
                    [("PAPER (simulated fills)", "paper"), ("LIVE (real money)", "live")],
                    value=c.mode.value, allow_blank=False, id="f-mode", compact=True))
                yield from self._field("strategy", "Strategy", Select(
                    [(n, n) for n in sorted(REGISTRY)], value=c.strategy, allow_blank=False,
                    id="f-strategy", compact=True))
                yield Static("Strategy parameters", classes="section")
                yield Vertical(id="params-box")
                yield Static("Risk limits", classes="section")
                for key, label in RISK_LABELS.items():
                    yield from self._field(f"risk-{key}", label, Input(
                        _text(getattr(c.risk, key)), id=f"f-risk-{key}", compact=True))
                yield Static("", id="e-form", classes="field-error")
            with Horizontal(id="config-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary", disabled=True)

    def _field(self, key: str, label: str, widget: Any) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield widget
        yield Static("", id=f"e-{key}", classes="field-error")

    def _param_rows(self, strategy: str, values: dict[str, Any]) -> list[Any]:
        return param_rows(strategy, values)

    async def on_mount(self) -> None:
        values = self._original.params if self._original and \
            self._original.strategy == self._strategy else {}
        await self.query_one("#params-box").mount_all(self._param_rows(self._strategy, values))
        self.query_one("#f-name" if not self._original else "#f-symbols").focus()
        self.validate()

    # ------------------------------------------------------------------ validation

    def _values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        def val(selector: str) -> Any:
            w = self.query_one(selector)
            return w.value if isinstance(w, (Input, Select)) else None

        data: dict[str, Any] = {k: val(f"#f-{k}").strip() for k, _ in BASIC}
        data["timeframe"] = val("#f-timeframe")
        data["mode"] = self._mode.value
        data["strategy"] = self._strategy
        data["risk"] = {k: val(f"#f-risk-{k}").strip() for k in RISK_LABELS}
        params = read_params(self, self._strategy)
        if self._original is not None:
            data["llm"] = self._original.llm
        return data, params

    def validate(self) -> BotConfig | None:
        """Check the whole form; show each error beside its field; enable Save when valid."""
        data, params = self._values()
        errors: dict[str, str] = {}
        if data["name"] in self._taken:
            errors["name"] = f"a bot named {data['name']!r} already exists; pick another name"
        try:
            p = REGISTRY[self._strategy].Params.model_validate(params)
        except ValidationError as e:
            collect_errors(e, errors, prefix="p-", whole="params")
            p = None
        try:
            cfg: BotConfig | None = BotConfig.model_validate(
                {**data, "params": p.model_dump() if p is not None else {}})
        except ValidationError as e:
            collect_errors(e, errors, prefix="", whole="form")
            cfg = None
        show_errors(self, errors)
        self._errors = errors
        ok = cfg is not None and not errors
        self.query_one("#save", Button).disabled = not ok
        return cfg if ok else None

    @on(Input.Changed)
    def _changed(self) -> None:
        self.validate()

    @on(Select.Changed, "#f-timeframe")
    def _tf_changed(self) -> None:
        self.validate()

    @on(Select.Changed, "#f-strategy")
    async def _strategy_changed(self, event: Select.Changed) -> None:
        if event.value == self._strategy or event.value is Select.BLANK:
            return
        self._strategy = str(event.value)
        box = self.query_one("#params-box")
        await box.remove_children()
        await box.mount_all(self._param_rows(self._strategy, {}))
        self.validate()

    @on(Select.Changed, "#f-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        if event.value == "live" and self._mode is not Mode.LIVE:
            def answered(ok: bool | None) -> None:
                if ok:
                    self._mode = Mode.LIVE
                else:
                    self.query_one("#f-mode", Select).value = "paper"
                self.validate()

            self.app.push_screen(ConfirmScreen(
                "Switch this bot to LIVE?",
                "LIVE places REAL orders with real money, using the exchange keys from your "
                "keyring. Paper mode simulates fills. Are you sure?",
                confirm_label="Yes, LIVE", danger=True), answered)
        elif event.value == "paper":
            self._mode = Mode.PAPER
            self.validate()

    # ------------------------------------------------------------------ buttons

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        cfg = self.validate()
        if cfg is None:
            self.notify("Fix the fields marked ↳ first.", severity="warning")
            return
        self.result_config = cfg
        self.dismiss(cfg)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def param_rows(strategy: str, values: dict[str, Any]) -> list[Any]:
    """One labelled row per field of the strategy's Params model (a Select for Literal/Enum
    fields, an Input otherwise; ids ``p-<field>``), each followed by its error line
    (``e-p-<field>``), then ``e-params``. Shared by the bot form and the backtest screen."""
    rows: list[Any] = []
    params_cls = REGISTRY[strategy].Params
    for name, info in params_cls.model_fields.items():
        label = name.replace("_", " ")
        value = values.get(name, info.default)
        choices = _choices(info.annotation)
        if choices:
            widget: Any = Select([(str(v), v) for v in choices], value=value
                                 if value in choices else choices[0], allow_blank=False,
                                 id=f"p-{name}", compact=True)
        else:
            widget = Input(_text(value), id=f"p-{name}", compact=True,
                           password="key" in name and "api" in name)
        if info.description:
            widget.tooltip = info.description
        row = Horizontal(Label(label, classes="field-label"), widget, classes="field-row")
        rows += [row, Static("", id=f"e-p-{name}", classes="field-error")]
    if not rows:
        rows.append(Static("(no parameters)", classes="dim"))
    rows.append(Static("", id="e-params", classes="field-error"))
    return rows


def read_params(root: Any, strategy: str) -> dict[str, Any]:
    """The raw values of ``param_rows`` under ``root`` (JSON parsed for dict/list fields, empty
    optional fields as None), for the Params model to validate."""
    params: dict[str, Any] = {}
    for name, info in REGISTRY[strategy].Params.model_fields.items():
        try:
            w = root.query_one(f"#p-{name}")
        except Exception:  # params box not mounted yet (strategy switch in flight)
            continue
        raw = w.value if isinstance(w, (Input, Select)) else None
        if isinstance(raw, str):
            raw = raw.strip()
            if raw == "" and info.default is None:
                raw = None
            elif get_origin(info.annotation) in (dict, list) and raw:
                try:
                    raw = json.loads(raw)
                except ValueError:
                    pass
        params[name] = raw
    return params


def show_errors(root: Any, errors: dict[str, str]) -> None:
    """Each ``.field-error`` line under ``root`` shows its key's message (id ``e-<key>``)."""
    for err in root.query(".field-error").results(Static):
        key = (err.id or "").removeprefix("e-")
        msg = errors.get(key, "")
        err.update(f"↳ {msg}" if msg else "")
        err.display = bool(msg)


def _choices(annotation: Any) -> list[Any]:
    """Literal / Enum annotations become a Select; everything else an Input."""
    from enum import Enum
    from typing import Literal

    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [m.value for m in annotation]
    return []


def collect_errors(e: ValidationError, errors: dict[str, str], *, prefix: str, whole: str) -> None:
    for err in e.errors():
        loc = [str(x) for x in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        if not loc:
            key = whole
        elif loc[0] == "risk" and len(loc) > 1:
            key = f"risk-{loc[1]}"
        elif loc[0] == "risk":
            key = "form"
        else:
            key = f"{prefix}{loc[0]}"
        errors.setdefault(key, msg)


