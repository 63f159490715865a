"""The composition root: store + market hub + engine, wired from a database path and settings.

Shared by the TUI (in-process engine on a thread) and `oxbot run --headless`; it imports no
Textual, so the headless engine never loads it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oxbot.engine.exchange.quirks import needs_passphrase  # whether ccxt asks a passphrase
from oxbot.engine.models import BotConfig
from oxbot.engine.strategies import Strategy, build_strategy, strategy_class

if TYPE_CHECKING:  # the engine and its market hub: only build_engine needs them (issue 13:
    # `oxbot bots add` checks keys through key_check and never builds an engine)
    from oxbot.engine.engine import Engine
    from oxbot.engine.market.sim import SimConfig

log = logging.getLogger("oxbot.runtime")


@dataclass
class RuntimeOptions:
    db_path: Path
    sim: SimConfig = field(default_factory=lambda: _sim_config(speed=30.0))
    resume: bool = True
    demo: bool = False  # add the demo bots (running) when the database has none
    offer_demo: bool = False  # add them stopped, for a first run of the cockpit
    key_resolver: Callable[[str], str | None] | None = None
    price_table: dict[str, Any] = field(default_factory=dict)
    snapshot_every_s: float | None = 1.0
    # Real exchanges (ccxt): the user's `exchanges` settings (sandbox, url, proxy, options,
    # polling, retries) by exchange id, or why they could not be read (LIVE bots then refuse
    # to start); ExchangeStreams options a test may speed up (clock, sleep); what start-up
    # reconciliation does with differences.
    exchanges: Mapping[str, Any] = field(default_factory=dict)
    exchanges_error: str = ""
    stream_options: dict[str, Any] = field(default_factory=dict)
    reconcile: str = field(default_factory=lambda: os.environ.get("OXBOT_RECONCILE", "ignore"))
    # exchange id -> Credentials (LIVE keys); None: the keyring / OXBOT_<EXCHANGE>_* variables.
    exchange_keys: Callable[[str], Any] | None = None
    lock_dir: Path | None = None  # per-key engine locks; None: the user's own lock folder
    # The engine's wall clock (tests move it across a UTC day); None: the real one. LLM budgets
    # count per day of this clock.
    clock: Any = None
    # Where alerts go (app/alerts.py Route list, from the `alerts` settings); empty: none.
    alerts: list[Any] = field(default_factory=list)
    # Several engines on one PostgreSQL database: this engine's name (None: the host name) and
    # how long a bot's lease runs unrenewed before another engine may take the bot over.
    engine_name: str | None = None
    lease_ttl_s: float = 30.0


def _sim_config(**values: Any) -> SimConfig:
    from oxbot.engine.market.sim import SimConfig  # noqa: PLC0415 - only when an engine runs

    return SimConfig(**values)


def llm_key_resolver(opts: RuntimeOptions) -> Callable[[str], str | None]:
    """provider -> API key: the options' resolver, or the keyring / environment."""
    if opts.key_resolver is not None:
        return opts.key_resolver
    from oxbot.storage.secrets import key_resolver  # noqa: PLC0415

    return key_resolver()


def _today(clock: Any) -> Callable[[], date] | None:
    if clock is None:
        return None
    return lambda: datetime.fromtimestamp(clock.now_ms() / 1000, UTC).date()


def strategy_factory(opts: RuntimeOptions) -> Callable[[BotConfig], Strategy]:
    def make(config: BotConfig) -> Strategy:
        if config.strategy != "llm":
            from oxbot.app.strategies import build_checked, load_user_strategies  # noqa: PLC0415

            load_user_strategies()  # a strategy file edited since is reloaded for new runs
            return build_checked(config.strategy, config.params)
        from oxbot.engine.llm.strategy import Redaction  # noqa: PLC0415
        from oxbot.storage.redact import open_tail, redact  # noqa: PLC0415

        cls = strategy_class("llm")
        base = build_strategy("llm", {**config.params, **config.llm})
        return cls(
            base.params,
            key_resolver=llm_key_resolver(opts),
            price_table=opts.price_table or None,
            today=_today(opts.clock),
            redaction=Redaction(redact, open_tail),
        )

    return make


def key_check(opts: RuntimeOptions) -> Callable[[BotConfig], Any]:
    """The engine's check, when a bot is added, changed or started, that the keys it needs
    exist: an LLM provider that needs one, and a LIVE bot's exchange. One ConfigError names
    what is missing and the command that sets it (keyring calls run off the loop)."""
    import asyncio  # noqa: PLC0415

    from oxbot.engine.errors import ConfigError, SecretsError  # noqa: PLC0415
    from oxbot.engine.models import Mode  # noqa: PLC0415

    async def check(config: BotConfig) -> None:
        missing: list[tuple[str, str, tuple[str, ...]]] = []
        unreadable = ""
        provider = llm_provider(config)
        if provider is not None:
            try:
                key = await asyncio.to_thread(llm_key_resolver(opts), provider)
            except SecretsError as e:
                key, unreadable = None, str(e)
            if not key:
                missing.append((f"an API key for {provider}", provider, ("api_key",)))
        if config.mode is Mode.LIVE:
            try:
                creds = (opts.exchange_keys or keyring_credentials)(config.exchange)
                if asyncio.iscoroutine(creds) or asyncio.isfuture(creds):
                    creds = await creds
            except SecretsError as e:
                creds, unreadable = None, str(e)
            if creds is None:  # every field the exchange's key has (ccxt requiredCredentials)
                fields = ("api_key", "secret")
                if needs_passphrase(config.exchange):
                    fields += ("passphrase",)
                missing.append((f"API keys for {config.exchange}", config.exchange, fields))
            elif not getattr(creds, "password", None) and needs_passphrase(config.exchange):
                missing.append(
                    (f"the API passphrase for {config.exchange}", config.exchange, ("passphrase",))
                )
        if missing and unreadable:
            # What this bot needs first, then why the keyring cannot hold it (and the fixes).
            raise SecretsError(
                f"{missing_keys_text(config.name, missing, True)}\n"
                f"The keyring cannot be used here: {unreadable}"
            )
        if missing:
            raise ConfigError(missing_keys_text(config.name, missing))

    return check


def missing_keys_text(
    bot: str, missing: list[tuple[str, str, tuple[str, ...]]], no_keyring: bool = False
) -> str:
    """One line: what ``bot`` lacks and the command that sets each; without a usable keyring,
    the environment variables that work instead."""
    from oxbot.storage.secrets import env_var  # noqa: PLC0415

    what = " and ".join(w for w, _, _ in missing)
    how = " and ".join(f"`oxbot keys set {p}`" for _, p, _ in missing)
    if not no_keyring:
        return f"{bot} needs {what}: run {how}"
    envs = " and ".join(env_var(p, f) for _, p, fields in missing for f in fields)
    return f"{bot} needs {what}: export {envs}, or run {how} once the keyring works"


def llm_provider(config: BotConfig) -> str | None:
    """The LLM provider of an LLM bot that needs an API key; None otherwise."""
    if config.strategy != "llm":
        return None
    from oxbot.engine.llm.catalog import PROVIDERS  # noqa: PLC0415

    provider = str({**config.params, **config.llm}.get("provider") or "offline")
    spec = PROVIDERS.get(provider)
    return provider if spec is not None and spec.needs_key else None


def keyring_credentials(exchange: str) -> Any:
    """LIVE keys of ``exchange`` from the secrets layer (keyring or environment), off the loop:
    a keyring call can take seconds."""
    import asyncio  # noqa: PLC0415

    from oxbot.engine.exchange.clients import Credentials  # noqa: PLC0415
    from oxbot.storage.secrets import get_secret  # noqa: PLC0415

    async def resolve() -> Credentials | None:
        fields = await asyncio.to_thread(get_secret, exchange)
        if not fields or not fields.get("api_key") or not fields.get("secret"):
            return None
        return Credentials(fields["api_key"], fields["secret"], fields.get("passphrase") or None)

    return resolve()


def build_exchanges(opts: RuntimeOptions, store: Any) -> tuple[Any, Any]:
    """The shared ccxt layer: market streams (keyless clients) and the broker factory (PAPER
    and LIVE), both pointed where the user's settings say. Nothing touches the network until a
    bot on a real exchange starts."""
    from oxbot.engine.exchange.endpoints import configurer  # noqa: PLC0415
    from oxbot.engine.exchange.live import ExchangeBrokers  # noqa: PLC0415
    from oxbot.engine.exchange.lock import key_lock_dir  # noqa: PLC0415
    from oxbot.engine.exchange.retry import RetryPolicy  # noqa: PLC0415
    from oxbot.engine.market.ccxt_streams import ExchangeStreams  # noqa: PLC0415

    endpoints, config, policies, breakers, polls, windows, stale = {}, {}, {}, {}, {}, {}, {}
    for ex, es in opts.exchanges.items():
        endpoints[ex] = es.endpoint()
        config[ex] = endpoints[ex].ccxt_config()
        if es.retries is not None or es.backoff_s or es.backoff_max_s:
            d = RetryPolicy()
            policies[ex] = RetryPolicy(
                retries=d.retries if es.retries is None else es.retries,
                base_s=es.backoff_s or d.base_s,
                max_s=es.backoff_max_s or d.max_s,
                max_retry_after_s=max(es.backoff_max_s or 0, d.max_retry_after_s),
            )
        if es.breaker_after or es.breaker_cooldown_s:
            breakers[ex] = (es.breaker_after or 5, es.breaker_cooldown_s or 30.0)
        if es.poll_s:
            polls[ex] = es.poll_s
        if es.stale_after_s:
            stale[ex] = es.stale_after_s
        if es.order_window_s:
            windows[ex] = es.order_window_s
    settings: dict[str, Any] = {
        "config": config,
        "configure": configurer(endpoints),
        "policies": policies,
        "breakers": breakers,
        "poll_for": polls,
        "stale_for": stale,
    }
    streams = ExchangeStreams(**(settings | opts.stream_options))  # a test may point ws too
    brokers = ExchangeBrokers(
        streams.clients,
        store,
        opts.exchange_keys or keyring_credentials,
        opts.lock_dir or key_lock_dir(),
        reconcile_action=opts.reconcile,
        order_window_s=windows,
        refuse_live=opts.exchanges_error,
    )
    return streams, brokers


def exchange_options(settings: Path | None = None) -> dict[str, Any]:
    """RuntimeOptions fields from the user's `exchanges` settings (strictly read), from
    ``settings`` or the user's settings.json."""
    from oxbot.storage.settings import load_exchange_settings  # noqa: PLC0415

    exchanges, error = load_exchange_settings(settings)
    if error:
        log.warning("%s", error)
    return {"exchanges": exchanges, "exchanges_error": error}


def alert_options(settings: Path | None = None) -> dict[str, Any]:
    """RuntimeOptions fields from the user's `alerts` settings (strictly read; unreadable ones
    are logged and send nothing). Each URL is read from the keyring later, on its route's own
    thread, so a slow keyring never delays start-up."""
    from oxbot.app.alerts import routes_from_settings  # noqa: PLC0415
    from oxbot.storage.alert_urls import get_url  # noqa: PLC0415
    from oxbot.storage.settings import load_alert_settings  # noqa: PLC0415

    routes, error = load_alert_settings(settings)
    if error:
        log.warning("%s", error)
    return {"alerts": routes_from_settings(routes, get_url)}


def endpoint_configurer(exchange_id: str) -> Callable[[Any], None] | None:
    """``configure(client)`` pointing a CLI command's ccxt client where the user's settings
    say (sandbox, url, proxy); None when they say nothing for ``exchange_id``. Unreadable
    settings are a usage error here: a command must not silently go to the real exchange."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.exchange.endpoints import configurer  # noqa: PLC0415
    from oxbot.storage.settings import load_exchange_settings  # noqa: PLC0415

    exchanges, error = load_exchange_settings()
    if error:
        raise UsageError(error.split("; LIVE bots")[0] + "; fix it first")
    es = exchanges.get(exchange_id)
    return None if es is None else configurer({exchange_id: es.endpoint()})


DEMO_BOTS: tuple[dict[str, Any], ...] = (
    {
        "name": "demo-sma",
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30},
        "symbols": ["BTC/USDT"],
    },
    {
        "name": "demo-rsi",
        "strategy": "rsi_reversion",
        "params": {},
        "symbols": ["ETH/USDT", "SOL/USDT"],
    },
    {
        "name": "demo-llm",
        "strategy": "llm",
        "params": {"provider": "offline", "model": "offline-rules"},
        # the majors, every 5 minutes, with the risk defaults (BotConfig's RiskLimits)
        "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"],
        "cadence_s": 300,
    },
)


def demo_configs() -> list[BotConfig]:
    return [BotConfig.model_validate(d) for d in DEMO_BOTS]


def sim_recorder(opts: RuntimeOptions) -> Any:
    """Keeps the sim market's candles beside the database (app/candle_record.py), so sim bots
    can be backtested and replayed on what they traded; none for a database that is not a
    file."""
    from oxbot.app.candle_record import SimCandleRecorder, sim_candles_dir  # noqa: PLC0415

    if not isinstance(opts.db_path, Path):
        return None
    return SimCandleRecorder(sim_candles_dir(opts.db_path))


async def build_engine(
    opts: RuntimeOptions, store: Any | None = None, control_socket: Path | None = None
) -> Engine:
    """Open the store (taking the writer lock) and build the engine. Must run on the loop the
    engine will run on. With ``control_socket`` the engine also serves `oxbot attach`, `status`,
    `stop` and `bots ...` there while it runs."""
    from oxbot.app.strategies import load_user_strategies  # noqa: PLC0415
    from oxbot.engine.engine import Engine  # noqa: PLC0415
    from oxbot.engine.market.hub import MarketHub  # noqa: PLC0415
    from oxbot.engine.models import BotStatus  # noqa: PLC0415
    from oxbot.storage.store import Store  # noqa: PLC0415

    load_user_strategies()  # before the stored bots are built: a broken file names itself
    if store is None:
        store = await Store.open(opts.db_path)
    try:
        if (opts.demo or opts.offer_demo) and not await store.load_bots():
            status = BotStatus.RUNNING if opts.demo else BotStatus.STOPPED
            for cfg in demo_configs():
                await store.save_bot(cfg, status)
        streams, brokers = build_exchanges(opts, store)
        hub = MarketHub(opts.sim, exchanges=streams, recorder=sim_recorder(opts))
        engine = Engine(
            store,
            hub,
            strategy_factory=strategy_factory(opts),
            broker_factory=brokers,
            resume=opts.resume,
            snapshot_every_s=opts.snapshot_every_s,
            clock=opts.clock,
            key_check=key_check(opts),
            engine_name=opts.engine_name,
            lease_ttl_s=opts.lease_ttl_s,
        )
        if opts.alerts:
            from oxbot.app.alerts import AlertService  # noqa: PLC0415

            engine.services.append(AlertService(engine.bus, opts.alerts, engine.now_ms))
        if control_socket is not None:
            from oxbot.remote.server import ControlServer  # noqa: PLC0415

            engine.services.append(ControlServer(engine, control_socket))
        return engine
    except BaseException:
        await store.close()
        raise


# A cockpit or daemon runs for days with a heap of some 300,000 long-lived objects (ccxt, pandas,
# Textual and the engine's state). CPython's default collector scans all of them in every
# full collection: 100-170 ms with the interpreter lock held, a visible freeze of the UI several
# times a minute when bots trade fast. Freezing the start-up heap takes it out of those scans;
# a larger first generation makes collections rarer (bench/RESULTS.md, "UI latency").
GC_THRESHOLDS = (10_000, 20, 10)
# The interpreter lock's switch interval while a cockpit shares the process with the engine: each
# time the UI thread blocks in a system call (every turn of its event loop does one) a busy
# engine takes the lock, and the UI waits a whole interval to get it back. Python's default of
# 5 ms let one frame wait 40-130 ms at max replay speed; 0.5 ms brought key-to-screen p99 under
# 100 ms and loop lag p99 to ~20 ms, for ~13 % of max replay speed (bench/RESULTS.md, UI latency).
SHARED_SWITCH_INTERVAL_S = 0.0005


def settle_heap(*, share_with_ui: bool = False) -> None:
    """Call once start-up is over (engine built, bots loaded): freeze what exists, and collect
    the young generation less often; with `share_with_ui` (the cockpit hosting the engine on a
    thread) also hand the interpreter lock over sooner. For the process entry points only: tests
    that build many apps would keep every frozen one alive."""
    import gc  # noqa: PLC0415
    import sys  # noqa: PLC0415

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if share_with_ui:
        sys.setswitchinterval(SHARED_SWITCH_INTERVAL_S)
