"""The settings file's pydantic model (storage/settings.py reads, checks and saves the file).

Kept apart so that reading a plain settings file, as the cockpit does before its first frame,
does not import pydantic (storage/settings.py ``load_ui_settings``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oxbot.engine.errors import ConfigError
from oxbot.engine.exchange.endpoints import Endpoint, check_proxy, check_url

from .settings import ALERT_EVENTS, ALERT_NAME


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


def _checked(check: Any, value: str, *args: str) -> str:
    try:
        return str(check(value, *args))
    except ConfigError as e:
        raise ValueError(str(e)) from None
