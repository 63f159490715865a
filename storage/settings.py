"""User settings: one JSON file, ``config_dir()/settings.json``.

A broken file never stops oxbot: ``load_settings`` keeps every valid field, falls back to the
default for each invalid one, and returns a warning per problem for the UI to show. Saves are
atomic (write a temp file, fsync, ``os.replace``), so a crash mid-save leaves the old file whole.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import config_dir

if TYPE_CHECKING:
    from .settings_model import AlertRoute, ExchangeSettings, Settings

__all__ = [
    "ALERT_EVENTS",
    "ALERT_NAME",
    "AlertRoute",
    "ExchangeSettings",
    "Settings",
    "UiSettings",
    "load_alert_settings",
    "load_exchange_settings",
    "load_settings",
    "load_ui_settings",
    "save_settings",
    "settings_path",
]

_MODEL_NAMES = ("AlertRoute", "ExchangeSettings", "Settings")


def __getattr__(name: str) -> Any:
    """The pydantic models (storage/settings_model.py), imported when first asked for."""
    if name in _MODEL_NAMES:
        from . import settings_model  # noqa: PLC0415

        return getattr(settings_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SETTINGS_FILENAME = "settings.json"


# What an alert route can be sent: app/alerts.py maps engine events to these kinds.
ALERT_EVENTS = ("fill", "sl_tp", "error", "budget", "panic", "engine_stopped")
ALERT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def settings_path() -> Path:
    """The settings file (under $OXBOT_HOME/config when OXBOT_HOME is set)."""
    return config_dir() / SETTINGS_FILENAME


def _read(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The file's JSON object, or None and why it cannot be used (no warning when missing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, []
    except OSError as e:
        return None, [f"cannot read {path} ({e}); using default settings"]
    except UnicodeDecodeError as e:
        return None, [
            f"{path} is not UTF-8 text (byte {e.start}); using default settings. Save it as "
            "UTF-8, or delete it to start fresh."
        ]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return None, [
            f"{path} is not valid JSON (line {e.lineno}: {e.msg}); using default settings. "
            "Fix the file or delete it to start fresh."
        ]
    except RecursionError:  # the parser's own limit: thousands of nested [ or {
        return None, [
            f"{path} is nested too deeply to be settings; using default settings. Fix the "
            "file or delete it to start fresh."
        ]
    if not isinstance(data, dict):
        return None, [f"{path} must hold a JSON object; using default settings"]
    return data, []


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings and a list of warnings; never raises for a bad or missing file."""
    from .settings_model import Settings  # noqa: PLC0415

    path = path or settings_path()
    data, warnings = _read(path)
    if data is None:
        return Settings(), warnings
    return _validate_keeping_good_fields(data, path)


@dataclasses.dataclass(frozen=True)
class UiSettings:
    """What the cockpit reads before its first frame, read without pydantic: the fields of
    ``Settings`` with their validated values. ``exchanges`` is always empty here: a file with
    exchange entries is read through the model, and the engine reads them itself
    (``load_exchange_settings``)."""

    theme: str = "oxbot-dark"
    keymap: dict[str, str] = dataclasses.field(default_factory=dict)
    resume_bots: bool = True
    status_every_min: int = 5
    llm_prices: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    exchanges: dict[str, Any] = dataclasses.field(default_factory=dict)
    # alert name -> {"events": [...], "per_minute": n}, defaults filled in
    alerts: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def model_copy(self, update: dict[str, Any]) -> UiSettings:
        """A copy with ``update`` applied (the name and use of pydantic's, for
        tui/settings_bridge.py); ``save_settings`` validates it through the model."""
        return dataclasses.replace(self, **update)

    def model(self) -> Settings:
        """The same settings as the pydantic model (validated again)."""
        from .settings_model import Settings  # noqa: PLC0415

        return Settings.model_validate(dataclasses.asdict(self))

    @classmethod
    def of(cls, settings: Settings) -> UiSettings:
        return cls(**settings.model_dump(mode="json"))


def load_ui_settings(path: Path | None = None) -> tuple[UiSettings, list[str]]:
    """``load_settings`` for the cockpit's start: the same values and the same warnings, word
    for word, but without importing pydantic when the file is missing, unreadable or plainly
    valid (no exchange entries, every value of the exact type and in range). Anything else
    goes through the model, so every message about a bad value is the model's."""
    path = path or settings_path()
    data, warnings = _read(path)
    if data is None:
        return UiSettings(), warnings
    plain = _plainly_valid(data)
    if plain is not None:
        return plain, []
    settings, warnings = _validate_keeping_good_fields(data, path)
    return UiSettings.of(settings), warnings


_FIELDS = ("theme", "keymap", "resume_bots", "status_every_min", "llm_prices", "alerts")


def _text(v: object) -> bool:
    if type(v) is not str:
        return False
    try:
        v.encode("utf-8")  # a lone surrogate from a \ud800 escape: the model's to judge
    except UnicodeEncodeError:
        return False
    return True


def _text_map(v: object) -> bool:
    return type(v) is dict and all(_text(k) and _text(x) for k, x in v.items())


def _price(v: object) -> bool:
    if not _text(v):
        return False
    try:
        return Decimal(str(v)).is_finite() and Decimal(str(v)) >= 0
    except InvalidOperation:
        return False


def _route(v: object) -> dict[str, Any] | None:
    """An alert route with defaults filled in, or None when the model must judge it."""
    if type(v) is not dict or not set(v) <= {"events", "per_minute"}:
        return None
    events = v.get("events", list(ALERT_EVENTS))
    per_minute = v.get("per_minute", 6)
    if type(events) is not list or not all(type(e) is str and e in ALERT_EVENTS for e in events):
        return None
    if type(per_minute) is not int or not 1 <= per_minute <= 120:
        return None
    return {"events": list(events), "per_minute": per_minute}


def _plainly_valid(data: dict[str, Any]) -> UiSettings | None:
    """The settings when every field is plainly valid (checked conservatively: what passes here
    the model takes unchanged); None sends the file through the model."""
    if data.get("exchanges", {}) != {} or not set(data) <= {*_FIELDS, "exchanges"}:
        return None
    theme = data.get("theme", "oxbot-dark")
    keymap = data.get("keymap", {})
    resume = data.get("resume_bots", True)
    every = data.get("status_every_min", 5)
    prices = data.get("llm_prices", {})
    alerts = data.get("alerts", {})
    if not (_text(theme) and _text_map(keymap) and type(resume) is bool):
        return None
    if type(every) is not int or not 0 <= every <= 1440:
        return None
    if type(prices) is not dict or not all(
        _text(model)
        and type(p) is dict
        and all(key in ("in", "out") and _price(x) for key, x in p.items())
        for model, p in prices.items()
    ):
        return None
    if type(alerts) is not dict or not all(ALERT_NAME.match(name) for name in alerts):
        return None
    routes = {name: _route(route) for name, route in alerts.items()}
    if any(r is None for r in routes.values()):
        return None
    return UiSettings(
        theme=theme,
        keymap=dict(keymap),
        resume_bots=resume,
        status_every_min=every,
        llm_prices={m: dict(p) for m, p in prices.items()},
        alerts={name: r for name, r in routes.items() if r is not None},
    )


def load_exchange_settings(path: Path | None = None) -> tuple[dict[str, ExchangeSettings], str]:
    """The ``exchanges`` settings, strictly: (settings by exchange id, "") or ({}, why they
    cannot be read). Unlike the rest of the file, a broken entry is not replaced by a default:
    the default for a testnet's URL is the real exchange, so LIVE bots must not start on a
    guess (the composition root refuses them with this text)."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        return {}, (
            f"{path} cannot be read ({type(e).__name__}); LIVE bots stay stopped until "
            'it is fixed, since its "exchanges" say where orders go'
        )
    raw = data.get("exchanges", {}) if isinstance(data, dict) else {}
    from pydantic import ValidationError  # noqa: PLC0415

    from .settings_model import Settings  # noqa: PLC0415

    try:
        return dict(Settings.model_validate({"exchanges": raw}).exchanges), ""
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return {}, (
            f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}; LIVE bots "
            "stay stopped until it is fixed (oxbot will not guess where orders go)"
        )


def load_alert_settings(path: Path | None = None) -> tuple[dict[str, AlertRoute], str]:
    """The ``alerts`` settings, strictly: (routes by name, "") or ({}, why they cannot be
    read, naming the file and the key)."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        return (
            {},
            f"{path} cannot be read ({type(e).__name__}); no alerts are sent until it is fixed",
        )
    raw = data.get("alerts", {}) if isinstance(data, dict) else {}
    from pydantic import ValidationError  # noqa: PLC0415

    from .settings_model import Settings  # noqa: PLC0415

    try:
        return dict(Settings.model_validate({"alerts": raw}).alerts), ""
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return {}, (
            f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}; no alerts are sent "
            "until it is fixed"
        )


def _validate_keeping_good_fields(data: dict[str, Any], path: Path) -> tuple[Settings, list[str]]:
    from pydantic import ValidationError  # noqa: PLC0415

    from .settings_model import Settings  # noqa: PLC0415

    warnings: list[str] = []
    data = dict(data)
    for _ in range(len(data) + 1):  # each round drops at least one bad field
        try:
            return Settings.model_validate(data), warnings
        except ValidationError as e:
            bad = {str(err["loc"][0]) for err in e.errors() if err["loc"]}
            for err in e.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(file)"
                if err["type"] == "extra_forbidden":
                    warnings.append(f"{path}: unknown setting {field!r} ignored")
                else:
                    warnings.append(f"{path}: {field}: {err['msg']}; using the default")
            if not bad:
                break
            for key in bad:
                data.pop(key, None)
    return Settings(), [*warnings, f"{path}: using default settings"]


def save_settings(settings: Settings | UiSettings, path: Path | None = None) -> Path:
    """Write the settings atomically; returns the file written."""
    if isinstance(settings, UiSettings):
        settings = settings.model()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
