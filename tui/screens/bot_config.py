"""The bot configuration form: every field of BotConfig plus the strategy's own parameters,
generated from its Params model. Validated on every keystroke by the same pydantic models the
engine uses; errors sit under their field; Save stays disabled until everything is valid. The
modal returns a complete BotConfig or None, so nothing is ever half-saved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, Static

from oxbot.engine.models import TIMEFRAMES, BotConfig, Mode
from oxbot.engine.risk import parse_hold

from .confirm import ConfirmScreen

RISK_LABELS = {
    "max_position_pct": "Max position % equity",
    "max_exposure_pct": "Max exposure % equity",
    "stop_loss_pct": "Stop-loss %",
    "take_profit_pct": "Take-profit %",
    "min_notional": "Min order notional",
    "daily_loss_limit_pct": "Daily loss limit %",
    "max_drawdown_pct": "Max drawdown % (kill)",
    "max_hold_s": "Max hold (4h, 90m; empty = none)",
}
# The schedule, at the end of the form: the cron (UTC) and the retry policy of a failed cycle.
SCHEDULE = (
    ("cron", "Cron, UTC (blank = cadence)"),
    ("retry_attempts", "Failed cycles before error"),
    ("retry_delay_s", "Retry delay s (0 = next due)"),
)
BASIC = (
    ("name", "Name"),
    ("exchange", "Exchange"),
    ("symbols", "Symbols (comma sep.)"),
    ("capital", "Capital (quote)"),
    ("cadence_s", "Cadence s (0 = every bar)"),
    ("fee_rate", "Fee rate (0.001 = 0.1%)"),
    ("slippage_bps", "Slippage (bps)"),
)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)  # Decimals in LLM prices
    return "" if value is None else str(value)


class BotConfigScreen(ModalScreen[BotConfig | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="config.cancel"),
        Binding("ctrl+s", "save", "Save", id="config.save"),
    ]

    def __init__(
        self,
        config: BotConfig | None,
        *,
        taken: set[str] | frozenset[str] = frozenset(),
        new: bool | None = None,
        refused: str = "",
    ) -> None:
        """``config``: the bot to edit, or None for a new one. ``new`` with a config: a new
        bot prefilled (the engine refused it). ``refused``: the engine's reason, shown at
        the top so the user sees the change was NOT saved."""
        super().__init__()
        self._new = config is None if new is None else new
        self._original = config
        self._taken = set(taken) - ({config.name} if config and not self._new else set())
        self._mode = config.mode if config else Mode.PAPER
        self._strategy = config.strategy if config else "sma_cross"
        self._errors: dict[str, str] = {}
        self._refused = refused
        self._mode_note = ""
        self._keys_for = ""  # the exchange whose LIVE key was last looked up
        self._name_touched = not self._new  # no "name missing" before anything is typed
        self.result_config: BotConfig | None = None

    @property
    def original(self) -> BotConfig | None:
        """The bot being edited (or prefilled after a refusal); None for a blank new one."""
        return self._original

    @property
    def field_errors(self) -> Mapping[str, str]:
        """What the form says is wrong, by field id ("params" and "form" for the whole)."""
        return MappingProxyType(self._errors)

    # ------------------------------------------------------------------ building the form

    def compose(self) -> ComposeResult:
        c = self._original or BotConfig(name="new-bot")
        title = "New bot" if self._new else f"Configure {c.name}"
        with Vertical(id="config-box"):
            yield Static(title, id="config-title")
            refused = Static(Text(f"NOT SAVED: {self._refused}"), id="config-refused")
            refused.display = bool(self._refused)
            yield refused
            with VerticalScroll(id="config-fields"):
                for key, label in BASIC:
                    yield from self._field(
                        key,
                        label,
                        Input(
                            _text(getattr(c, key)) if self._original or key != "name" else "",
                            id=f"f-{key}",
                            compact=True,
                            disabled=key == "name" and not self._new,
                            placeholder="e.g. my-bot" if key == "name" else "",
                        ),
                    )
                yield from self._field(
                    "timeframe",
                    "Timeframe",
                    Select(
                        [(tf, tf) for tf in TIMEFRAMES],
                        value=c.timeframe,
                        allow_blank=False,
                        id="f-timeframe",
                        compact=True,
                    ),
                )
                yield from self._field(
                    "mode",
                    "Mode",
                    Select(
                        [("PAPER (simulated fills)", "paper"), ("LIVE (real money)", "live")],
                        value=c.mode.value,
                        allow_blank=False,
                        id="f-mode",
                        compact=True,
                    ),
                )
                yield from self._field(
                    "on_stop",
                    "On stop, positions",
                    Select(
                        [("keep (SL/TP not watched)", "keep"), ("close at market", "close")],
                        value=c.on_stop,
                        allow_blank=False,
                        id="f-on_stop",
                        compact=True,
                    ),
                )
                yield from self._field(
                    "strategy",
                    "Strategy",
                    Select(
                        [(n, n) for n in strategy_names(c.strategy)],
                        value=c.strategy,
                        allow_blank=False,
                        id="f-strategy",
                        compact=True,
                    ),
                )
                yield Static("Strategy parameters", classes="section")
                yield Vertical(id="params-box")
                yield Static("Risk limits", classes="section")
                for key, label in RISK_LABELS.items():
                    yield from self._field(
                        f"risk-{key}",
                        label,
                        Input(_text(getattr(c.risk, key)), id=f"f-risk-{key}", compact=True),
                    )
                yield Static("Schedule", classes="section")
                for key, label in SCHEDULE:
                    yield from self._field(
                        key,
                        label,
                        Input(
                            _text(getattr(c, key)),
                            id=f"f-{key}",
                            compact=True,
                            placeholder="e.g. */30 * * * * * (6 fields: seconds first)"
                            if key == "cron"
                            else "",
                        ),
                    )
                yield from self._field(
                    "run_on_start",
                    "Decide on start/resume",
                    Select(
                        [("no: at the next due time", "no"), ("yes: at once", "yes")],
                        value="yes" if c.run_on_start else "no",
                        allow_blank=False,
                        id="f-run_on_start",
                        compact=True,
                    ),
                )
                yield Static("", id="e-form", classes="field-error")
            with Horizontal(id="config-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary", disabled=True)

    def _field(self, key: str, label: str, widget: Any) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield widget
        yield Static("", id=f"e-{key}", classes="field-error")
        if key == "exchange":
            yield Static("", id="keys-note", classes="field-note", markup=False)

    async def on_mount(self) -> None:
        values = (
            self._original.params
            if self._original and self._original.strategy == self._strategy
            else {}
        )
        await self.query_one("#params-box").mount_all(param_rows(self._strategy, values))
        self.query_one("#f-name" if self._new else "#f-symbols").focus()
        self.validate()

    # ------------------------------------------------------------------ validation

    def _values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        def val(selector: str) -> Any:
            w = self.query_one(selector)
            return w.value if isinstance(w, (Input, Select)) else None

        data: dict[str, Any] = {k: val(f"#f-{k}").strip() for k, _ in BASIC + SCHEDULE}
        data["run_on_start"] = val("#f-run_on_start") == "yes"
        data["timeframe"] = val("#f-timeframe")
        data["on_stop"] = val("#f-on_stop")
        data["mode"] = self._mode.value
        data["strategy"] = self._strategy
        data["risk"] = {k: val(f"#f-risk-{k}").strip() for k in RISK_LABELS}
        try:  # "4h" as typed; what does not parse is left for the model to refuse
            data["risk"]["max_hold_s"] = parse_hold(data["risk"]["max_hold_s"])
        except ValueError:
            pass
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
        params_cls, why = params_of(self._strategy)
        try:
            if params_cls is None:  # a bot whose strategy file does not load
                errors["params"] = why
                raise LookupError(why)
            p = params_cls.model_validate(params)
        except ValidationError as e:
            collect_errors(e, errors, prefix="p-", whole="params")
            name_fields(errors, params_cls)
            p = None
        except LookupError:
            p = None
        try:
            cfg: BotConfig | None = BotConfig.model_validate(
                {**data, "params": p.model_dump() if p is not None else {}}
            )
        except ValidationError as e:
            collect_errors(e, errors, prefix="", whole="form")
            cfg = None
        if not self._name_touched and not data["name"]:
            errors.pop("name", None)  # Save stays disabled; no error before any typing
        if self._mode is Mode.LIVE and data["exchange"] in ("", "sim") and "form" in errors:
            errors["exchange"] = errors.pop("form")  # beside the field to change
        ok = cfg is not None and not errors
        self._want_keys_check(data["exchange"].lower() if self._mode is Mode.LIVE else "")
        if self._mode_note:  # LIVE refused before asking: a note, the form stays PAPER
            errors.setdefault("mode", self._mode_note)
        show_errors(self, errors)
        self._errors = errors
        self.query_one("#save", Button).disabled = not ok
        return cfg if ok else None

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "f-name":
            self._name_touched = True
        if event.input.id == "f-exchange":
            self._mode_note = ""
        self.validate()

    @on(Select.Changed, "#f-timeframe")
    @on(Select.Changed, "#f-on_stop")
    @on(Select.Changed, "#f-run_on_start")
    def _tf_changed(self) -> None:
        self.validate()

    @on(Select.Changed, "#f-strategy")
    async def _strategy_changed(self, event: Select.Changed) -> None:
        if event.value == self._strategy or event.value is Select.BLANK:
            return
        self._strategy = str(event.value)
        await remount_params(self, self._strategy)
        self.validate()

    @on(Select.Changed, "#f-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        exchange = self.query_one("#f-exchange", Input).value.strip().lower()
        if event.value == "live" and self._mode is not Mode.LIVE and exchange in ("", "sim"):
            # Say it beside Mode now, not after a confirmation and at the bottom of the form.
            self._mode_note = (
                "LIVE needs a real exchange: set Exchange (e.g. binance) first, then choose LIVE"
            )
            self.query_one("#f-mode", Select).value = "paper"
            self.validate()
            return
        if event.value == "live" and self._mode is not Mode.LIVE:

            def answered(ok: bool | None) -> None:
                if ok:
                    self._mode = Mode.LIVE
                else:
                    self.query_one("#f-mode", Select).value = "paper"
                self.validate()

            self.app.push_screen(
                ConfirmScreen(
                    "Switch this bot to LIVE?",
                    "LIVE places REAL orders with real money, using the exchange keys from your "
                    "keyring. Paper mode simulates fills. Are you sure?",
                    confirm_label="Yes, LIVE",
                    danger=True,
                ),
                answered,
            )
        elif event.value == "paper":
            self._mode = Mode.PAPER
            self.validate()

    # ------------------------------------------------------------------ LIVE keys

    def _want_keys_check(self, exchange: str) -> None:
        """LIVE: say now, beside Exchange, whether its API key is there (not at start).
        The keyring is asked in a thread, 0.4 s after the typing stops."""
        if exchange in ("", "sim"):
            self._keys_for = ""
            self.query_one("#keys-note", Static).display = False
            return
        if exchange != self._keys_for:
            self._keys_for = exchange
            self.set_timer(0.4, lambda: self._check_keys(exchange))

    def _check_keys(self, exchange: str) -> None:
        if exchange != self._keys_for:
            return  # typed on since

        def work() -> None:
            from oxbot.engine.errors import OxbotError  # noqa: PLC0415
            from oxbot.storage.secrets import load_secret  # noqa: PLC0415

            try:
                found = load_secret(exchange)
                note = (
                    f"{exchange} API key found ({found.source})"
                    if found
                    else f"⚠ no API key for {exchange} (keyring or OXBOT_ environment): "
                    "add it with K before starting this bot"
                )
            except OxbotError as e:
                note = f"⚠ cannot check the {exchange} key: {str(e).splitlines()[0]}"
            self.app.call_from_thread(self._keys_checked, exchange, note)

        self.app.run_worker(work, thread=True, group="keys-check", exit_on_error=False)

    def _keys_checked(self, exchange: str, note: str) -> None:
        if exchange == self._keys_for and self.is_mounted:
            w = self.query_one("#keys-note", Static)
            w.update(note)
            w.display = True

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


async def remount_params(screen: Screen[Any], strategy: str) -> None:
    """Replace the rows in ``#params-box`` with ``strategy``'s, at their defaults (the user
    picked another strategy). Shared by the bot form and the backtest screen."""
    box = screen.query_one("#params-box")
    await box.remove_children()
    await box.mount_all(param_rows(strategy, {}))


def param_rows(strategy: str, values: dict[str, Any]) -> list[Any]:
    """One labelled row per field of the strategy's Params model (a Select for Literal/Enum
    fields, an Input otherwise; ids ``p-<field>``), each followed by its error line
    (``e-p-<field>``), then ``e-params``. Shared by the bot form and the backtest screen."""
    rows: list[Any] = []
    params_cls, why = params_of(strategy)
    if params_cls is None:  # the loader's message (file:line); Save stays disabled
        return [
            Static(Text(why), id="params-unloaded"),
            Static("", id="e-params", classes="field-error"),
        ]
    for name, info in params_cls.model_fields.items():
        label = name.replace("_", " ")
        # default_factory fields (dicts) have no .default: ask pydantic for the real one
        value = values.get(name, info.get_default(call_default_factory=True))
        choices = _choices(info.annotation)
        if choices:
            widget: Any = Select(
                [(_choice_label(v), v) for v in choices],
                value=value if value in choices else choices[0],
                allow_blank=False,
                id=f"p-{name}",
                compact=True,
            )
        else:
            widget = Input(
                _text(value), id=f"p-{name}", compact=True, password="key" in name and "api" in name
            )
        widget.tooltip = field_help(info)
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
    params_cls, _why = params_of(strategy)
    if params_cls is None:
        return params
    for name, info in params_cls.model_fields.items():
        try:
            w = root.query_one(f"#p-{name}")
        except Exception:  # params box not mounted yet (strategy switch in flight)
            continue
        raw = w.value if isinstance(w, (Input, Select)) else None
        if isinstance(raw, str):
            raw = raw.strip()
            container = get_origin(info.annotation) in (dict, list, tuple)
            if raw == "" and container:
                raw = info.get_default(call_default_factory=True)  # cleared = the default
            elif raw == "" and info.default is None:
                raw = None
            elif container:
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
        err.update(Text(f"↳ {msg}") if msg else "")  # Text: brackets in a value stay
        err.display = bool(msg)


def _choices(annotation: Any) -> list[Any]:
    """Literal / Enum / bool annotations become a Select; everything else an Input."""
    from enum import Enum
    from typing import Literal

    if annotation is bool:
        return [True, False]
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [m.value for m in annotation]
    return []


def _choice_label(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


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


def strategies() -> Any:
    """The strategy registry, imported on first use: it loads pandas, which the cockpit's
    first frame does not need."""
    from oxbot.engine.strategies import REGISTRY  # noqa: PLC0415

    return REGISTRY


def strategy_names(current: str) -> list[str]:
    """The strategies the form offers: the built-ins and the user's (their files read again
    when edited: app/strategies.py), plus ``current``, the strategy of the bot being edited,
    even when its file does not load now (the form then shows why)."""
    from oxbot.app.strategies import load_user_strategies  # noqa: PLC0415

    load_user_strategies()
    return sorted({*strategies(), current})


def params_of(strategy: str) -> tuple[Any, str]:
    """(the strategy's Params model, "") or (None, why it does not load: file:line)."""
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    try:
        return strategy_class(strategy).Params, ""
    except ConfigError as e:
        return None, str(e)


def field_range(info: Any) -> str:
    """A numeric parameter's bounds from its schema (app/strategies.py `param_range`)."""
    from oxbot.app.strategies import param_range  # noqa: PLC0415

    return param_range(info)


def field_help(info: Any) -> str:
    """A parameter's tooltip: its description, range and default, from the schema."""
    parts = [info.description or ""]
    bounds = field_range(info)
    if bounds:
        parts.append(f"range {bounds}")
    default = info.get_default(call_default_factory=True)
    if default is not None and not isinstance(default, (dict, list)):
        parts.append(f"default {_text(default)}")
    return "; ".join(p for p in parts if p)


def name_fields(errors: dict[str, str], params_cls: Any) -> None:
    """Each parameter's error says the field's name and its range: ``fast: Input should be
    less than or equal to 50 (range 2 to 50)``."""
    for name, info in params_cls.model_fields.items():
        key = f"p-{name}"
        if key in errors:
            bounds = field_range(info)
            errors[key] = f"{name}: {errors[key]}" + (f" (range {bounds})" if bounds else "")
