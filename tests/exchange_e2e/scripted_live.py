"""The LIVE order path under attack: the REAL engine (oxbot.app.runtime.build_engine with
RuntimeOptions as settings.json would give them), the REAL ccxt client over HTTP to the
project's fake exchanges on 127.0.0.1, and a scripted strategy whose decisions the test chooses.

The tests built on this module were written by an independent tester who had not read the
project's own exchange tests, to break the LIVE order handling; each failed on the code it was
written against and passes since the fix (the commit log tells which). Their docstrings say what
was broken: a refused order in a multi-symbol decision losing the fills before it
(test_exchange_e2e_multi_symbol_refusal), a sell whose fee is paid in the coin sold
(..._fee_in_coin), PANIC, stop, delete, LIVE->PAPER and edits while an order's outcome is unknown
(..._unresolved_orders, ..._delete_unresolved), a refused key making the lookups hammer the
exchange (..._revoked_key), the start-up account check before the settled orders are booked
(..._restart_balance_check); ..._single_order_faults holds what held from the start.

Market input: the hub's own ccxt streams run (1m candles, so no candle closes during a short
test); the test pushes a closed candle (``Bar``) into the bot's inbox, exactly what the
ccxt stream does at a close (ccxt_streams._bar), so the bot runs its real cycle: settle ->
decide -> risk -> LiveBroker.execute -> CcxtBroker.place -> create_order over HTTP -> ledger.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import waiting

from oxbot.app.runtime import RuntimeOptions, build_engine
from oxbot.engine.exchange.clients import Credentials
from oxbot.engine.market.hub import Bar, Tick
from oxbot.engine.models import (
    Action,
    BotConfig,
    BotStatus,
    Candle,
    Decision,
    Mode,
    StreamKey,
    SymbolDecision,
)
from oxbot.engine.strategies import register
from oxbot.engine.strategies.base import DecisionContext, Strategy
from oxbot.storage.settings import ExchangeSettings

FAKES = Path(__file__).resolve().parents[1] / "exchange"


def load_fake(name: str) -> Any:
    """tests/exchange/<name>.py as a module (the fakes load their base the same way)."""
    key = f"_oxbot_exchange_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, FAKES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# --------------------------------------------------------------------------- scripted strategy

# bot name -> list of decisions still to make; each is {symbol: action}
SCRIPTS: dict[str, list[dict[str, str]]] = {}


@register
class Scripted(Strategy):
    """Decides what the test scripted for the bot (``SCRIPTS[bot]``), else "buy what is not
    held" when ``params`` is empty (a plain trend-following bot would do the same)."""

    name = "adv_script"

    def signals(self, frame: pd.DataFrame) -> Any:  # pragma: no cover - not used
        raise NotImplementedError

    def warmup(self) -> int:
        return 0

    async def decide(self, ctx: DecisionContext) -> Decision:
        script = SCRIPTS.get(ctx.bot)
        if script:
            want = script.pop(0)
        else:
            want = {s: ("hold" if s in ctx.positions else "buy") for s in ctx.config.symbols}
        items = tuple(
            SymbolDecision(s, Action(want.get(s, "hold")), reasoning="scripted")
            for s in ctx.config.symbols
        )
        return Decision(ctx.bot, ctx.ts, items, reasoning="scripted", source="rule")


# --------------------------------------------------------------------------- the engine


@dataclass
class Live:
    engine: Any
    task: asyncio.Task[None]
    fake: Any
    events: list[Any] = field(default_factory=list)

    def runner(self, name: str) -> Any:
        return self.engine.runners[name]

    async def bar(self, name: str, close_ts: int, price: float | dict[str, float] = 100.0) -> None:
        """A closed 1m candle on every symbol of ``name`` (what the ccxt stream pushes)."""
        r = self.runner(name)
        for sym in r.config.symbols:
            px = price[sym] if isinstance(price, dict) else price
            c = Candle(close_ts - 60_000, px, px, px, px, 1.0)
            frame = pd.DataFrame(
                {
                    "ts": [c.ts],
                    "open": [px],
                    "high": [px],
                    "low": [px],
                    "close": [px],
                    "volume": [1.0],
                }
            )
            r.inbox.put_nowait(
                Bar(StreamKey(r.config.exchange, sym, r.config.timeframe), c, frame, close_ts)
            )
        await r.inbox.join()

    async def tick(self, name: str, symbol: str, ts: int, price: float) -> None:
        r = self.runner(name)
        r.inbox.put_nowait(
            Tick(StreamKey(r.config.exchange, symbol, r.config.timeframe), ts, price)
        )
        await r.inbox.join()

    async def command(self, cmd: Any, timeout: float = 20.0) -> Any:
        import dataclasses  # noqa: PLC0415
        import uuid  # noqa: PLC0415

        from oxbot.engine.messages import CommandDone  # noqa: PLC0415

        if not cmd.request_id:
            cmd = dataclasses.replace(cmd, request_id=uuid.uuid4().hex)
        self.engine.submit(cmd)
        return await waiting.wait_for(
            lambda: next(
                (
                    ev
                    for ev in self.events
                    if isinstance(ev, CommandDone) and ev.request_id == cmd.request_id
                ),
                None,
            ),
            timeout,
            f"{type(cmd).__name__} done",
        )

    def notices(self) -> list[str]:
        from oxbot.engine.messages import CycleFailed, Notice  # noqa: PLC0415

        out = []
        for ev in self.events:
            if isinstance(ev, Notice):
                out.append(f"[{ev.level}] {ev.message}")
            elif isinstance(ev, CycleFailed):
                out.append(f"[cycle failed] {ev.error}")
        return out

    async def stop(self) -> None:
        if not self.task.done():
            self.engine.request_stop()
            await asyncio.wait_for(self.task, 30)
        await self.engine.store.close()


async def start_live(
    tmp: Path,
    fake: Any,
    configs: list[BotConfig],
    *,
    exchange: str = "binance",
    settings: dict[str, Any] | None = None,
    creds: Credentials | None = None,
    status: BotStatus = BotStatus.RUNNING,
    db: Path | None = None,
) -> Live:
    """The engine as `oxbot run` builds it, its ``exchanges`` settings pointing at ``fake``."""
    es = ExchangeSettings(url=fake.base_url, **(settings or {}))
    keys = creds or Credentials(
        **{
            "api_key": fake.credentials()["apiKey"],
            "secret": fake.credentials()["secret"],
            "password": fake.credentials().get("password"),
        }
    )
    opts = RuntimeOptions(
        db_path=db or tmp / "oxbot.db",
        exchanges={exchange: es},
        exchange_keys=lambda _ex: keys,
        lock_dir=tmp / "locks",
        snapshot_every_s=None,
    )
    engine = await build_engine(opts)
    for cfg in configs:
        await engine.store.save_bot(cfg, status)
    live = Live(engine, None, fake)  # type: ignore[arg-type]
    engine.bus.listen(live.events.append)
    live.task = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    return live


def live_bot(
    name: str, symbols: tuple[str, ...] = ("BTC/USDT",), exchange: str = "binance", **kw: Any
) -> BotConfig:
    return BotConfig(
        name=name, exchange=exchange, symbols=symbols, strategy="adv_script", mode=Mode.LIVE, **kw
    )


async def wait_for(pred: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """pred()'s first truthy value, or its last value after ``timeout``: these tests then assert
    with their own message, which says what was broken."""
    try:
        return await waiting.wait_for(
            pred, timeout, waiting.describe(pred), pause=lambda: asyncio.sleep(every)
        )
    except waiting.WaitTimeout:
        return pred()


async def wait_stored(
    live: Live, client_order_id: str, pred: Callable[[Any], Any], timeout: float = 25.0
) -> Any:
    """The stored order once pred(order) holds, or as it is after ``timeout``: a test that
    needs an order followed to its end waits for that end rather than sleeping a guess; it then
    asserts with its own message."""
    stored: list[Any] = [None]

    async def look() -> None:
        await asyncio.sleep(0.05)
        stored[0] = await live.engine.store.get_order(client_order_id)

    await look()
    try:
        await waiting.wait_for(
            lambda: pred(stored[0]),
            timeout,
            f"order {client_order_id} to satisfy {waiting.describe(pred)}",
            pause=look,
        )
    except waiting.WaitTimeout:
        pass
    return stored[0]


D = Decimal
