"""User settings: one JSON file, ``config_dir()/settings.json``.

A broken file never stops oxbot: ``load_settings`` keeps every valid field, falls back to the
default for each invalid one, and returns a warning per problem for the UI to show. Saves are
atomic (write a temp file, fsync, ``os.replace``), so a crash mid-save leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from oxbot.engine.errors import ConfigError
from oxbot.engine.exchange.endpoints import Endpoint, check_proxy, check_url

from .paths import config_dir

SETTINGS_FILENAME = "settings.json"


class ExchangeSettings(BaseModel):
    """Where one exchange's requests go, for the cockpit, the headless engine and the CLI alike
    (``"exchanges": {"binance": {"sandbox": true}}`` in settings.json)."""

    model_config = ConfigDict(extra="forbid")

    sandbox: bool = False  # the exchange's testnet (ccxt set_sandbox_mode)
    url: str = ""  # every API of the exchange at this base URL (a proxy, a gateway)
    urls: dict[str, str] = Field(default_factory=dict)  # chosen ccxt API groups -> base URL
    hostname: str = ""  # ccxt hostname (e.g. "my.okx.com", "www.okx.cab")
    proxy: str = ""  # http://host:port, https://..., socks5://host:port
    options: dict[str, Any] = Field(default_factory=dict)  # ccxt options, e.g. recvWindow
    timeout_ms: int | None = Field(default=None, ge=100, le=300_000)
    poll_s: float | None = Field(default=None, gt=0, le=3600)  # REST price polling period
    stale_after_s: float | None = Field(default=None, gt=0, le=86400)  # price called STALE
    order_window_s: float | None = Field(default=None, gt=0, le=3600)  # unknown-order lookups
    # Reads that fail for a temporary reason are retried `retries` times, waiting backoff_s,
    # doubling up to backoff_max_s; after `breaker_after` failures in a row the exchange's bots
    # pause for breaker_cooldown_s. (Order creation is never retried.)
    retries: int | None = Field(default=None, ge=0, le=10)
    backoff_s: float | None = Field(default=None, gt=0, le=60)
    backoff_max_s: float | None = Field(default=None, gt=0, le=600)
    breaker_after: int | None = Field(default=None, ge=1, le=1000)
    breaker_cooldown_s: float | None = Field(default=None, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _checked(check_url, v, "url") if v else v

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: dict[str, str]) -> dict[str, str]:
        for group, url in v.items():
            _checked(check_url, url, f"urls.{group}")
        return v

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str) -> str:
        return _checked(check_proxy, v) if v else v

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", v):
            raise ValueError(f"hostname must be a plain host name such as my.okx.com, not {v!r}")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> ExchangeSettings:
        if self.sandbox and (self.url or self.urls):
            raise ValueError(
                "set either sandbox or url/urls, not both: the sandbox has URLs of its own"
            )
        return self

    def endpoint(self) -> Endpoint:
        return Endpoint(
            sandbox=self.sandbox,
            url=self.url,
            urls=dict(self.urls),
            hostname=self.hostname,
            proxy=self.proxy,
            options=dict(self.options),
            timeout_ms=self.timeout_ms,
        )


# What an alert route can be sent: app/alerts.py maps engine events to these kinds.
ALERT_EVENTS = ("fill", "sl_tp", "error", "budget", "panic", "engine_stopped")
ALERT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class AlertRoute(BaseModel):
    """One alert destination (``"alerts": {"phone": {"events": ["fill", "panic"]}}``): its
    apprise URL lives in the keyring under the route's name (storage/alert_urls.py), never here."""

    model_config = ConfigDict(extra="forbid")

    events: list[str] = Field(default_factory=lambda: list(ALERT_EVENTS))
    per_minute: int = Field(default=6, ge=1, le=120)  # messages; more are summarised in one

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        unknown = [e for e in v if e not in ALERT_EVENTS]
        if unknown:
            raise ValueError(
                f"unknown alert event {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(ALERT_EVENTS)}"
            )
        return v


def _checked(check: Any, value: str, *args: str) -> str:
    try:
        return str(check(value, *args))
    except ConfigError as e:
        raise ValueError(str(e)) from None


class Settings(BaseModel):
    """What the user can set once for every session."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    theme: str = "oxbot-dark"
    # binding id -> keys, e.g. {"start_bot": "s,f5"} (Textual's set_keymap format)
    keymap: dict[str, str] = Field(default_factory=dict)
    resume_bots: bool = True
    status_every_min: int = Field(default=5, ge=0, le=1440)
    # model -> {"in": USD per 1M input tokens, "out": USD per 1M output tokens}, as strings so
    # prices stay exact Decimals.
    llm_prices: dict[str, dict[str, str]] = Field(default_factory=dict)
    # ccxt exchange id -> where its requests go (sandbox, url, proxy, ...)
    exchanges: dict[str, ExchangeSettings] = Field(default_factory=dict)
    # alert name -> which events go there (the URL is in the keyring)
    alerts: dict[str, AlertRoute] = Field(default_factory=dict)

    @field_validator("alerts")
    @classmethod
    def _alert_names(cls, v: dict[str, AlertRoute]) -> dict[str, AlertRoute]:
        for name in v:
            if not ALERT_NAME.match(name):
                raise ValueError(
                    f"alert name {name!r}: use lowercase letters, digits, - and _ (max 32)"
                )
        return v

    @field_validator("llm_prices")
    @classmethod
    def _prices(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for model, prices in v.items():
            for key, price in prices.items():
                if key not in ("in", "out"):
                    raise ValueError(f"{model}: price keys are 'in' and 'out', not {key!r}")
                try:
                    ok = Decimal(price).is_finite() and Decimal(price) >= 0
                except InvalidOperation:
                    ok = False
                if not ok:
                    raise ValueError(f'{model}.{key}: {price!r} is not a price like "0.15"')
        return v


def settings_path() -> Path:
    """The settings file (under $OXBOT_HOME/config when OXBOT_HOME is set)."""
    return config_dir() / SETTINGS_FILENAME


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings and a list of warnings; never raises for a bad or missing file."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except OSError as e:
        return Settings(), [f"cannot read {path} ({e}); using default settings"]
    except UnicodeDecodeError as e:
        return Settings(), [
            f"{path} is not UTF-8 text (byte {e.start}); using default settings. Save it as "
            "UTF-8, or delete it to start fresh."
        ]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return Settings(), [
            f"{path} is not valid JSON (line {e.lineno}: {e.msg}); using default settings. "
            "Fix the file or delete it to start fresh."
        ]
    except RecursionError:  # the parser's own limit: thousands of nested [ or {
        return Settings(), [
            f"{path} is nested too deeply to be settings; using default settings. Fix the "
            "file or delete it to start fresh."
        ]
    if not isinstance(data, dict):
        return Settings(), [f"{path} must hold a JSON object; using default settings"]
    return _validate_keeping_good_fields(data, path)


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


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically; returns the file written."""
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
