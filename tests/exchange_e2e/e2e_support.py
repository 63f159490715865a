"""Shared by the e2e tests and their child engine process: a fast shared clock, a strategy that
trades on every bar, a fake Binance that follows the clock (fees charged, partial fills), and
the RuntimeOptions that point the real composition root at the fake exchange."""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oxbot.engine.exchange.clients import Credentials
from oxbot.engine.exchange.retry import RetryPolicy
from oxbot.engine.models import BotConfig, Mode
from oxbot.engine.strategies import REGISTRY, Strategy
from oxbot.engine.strategies.base import ENTER, EXIT

_HERE = Path(__file__).parent
TF_MS = 60_000
T0_MS = 1_700_000_000_000


def _load_fake() -> Any:
    key = "_oxbot_exchange_e2e_fake_binance"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, _HERE.parent / "exchange" /
                                                      "fake_binance.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


fake_binance = _load_fake()
API_KEY, SECRET = fake_binance.API_KEY, fake_binance.SECRET


class SpeedClock:
    """Virtual time running ``speed`` times faster than the wall clock from ``wall0``; the same
    numbers in every process, so the fake exchange and a child engine agree on candles."""

    def __init__(self, speed: float, wall0: float | None = None, t0_ms: int = T0_MS) -> None:
        self.speed, self.t0_ms = speed, t0_ms
        self.wall0 = time.time() if wall0 is None else wall0

    def now_ms(self) -> int:
        return int(self.t0_ms + (time.time() - self.wall0) * 1000 * self.speed)


class Flip(Strategy):
    """Buy on even minutes, close on odd ones: one order on every bar."""

    name = "e2e_flip"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        ts = frame["ts"].to_numpy()
        return np.where((ts // TF_MS) % 2 == 0, ENTER, EXIT).astype(np.int8)


REGISTRY[Flip.name] = Flip


def price_at(i: int) -> float:
    return round(100 + 5 * np.sin(i / 15) + np.sin(i / 3), 2)


@dataclass
class ClockedFake(fake_binance.FakeBinance):  # type: ignore[misc,name-defined]
    """The fake exchange on a SpeedClock: klines up to now (the last one open), the ticker at
    the open candle's price, every ``partial_every``-th market order filled 70 % then expired,
    each fill split in two trades. Commissions are charged in USDT (``fee_mode="quote"``),
    which the ledger checks of these tests assume; a real Binance account without BNB pays a
    buy's fee in BTC (set ``fee_mode="received"`` to test that)."""

    clock: Any = None
    partial_every: int = 4
    market_orders: int = 0
    fee_mode: str = "quote"
    min_notional: Decimal = Decimal("5")  # Binance's BTCUSDT value; these bots trade ~1,500

    def sync(self) -> None:
        self.now_ms = self.clock.now_ms()
        self.price = Decimal(str(price_at(self.now_ms // TF_MS)))

    def _klines(self, p: dict[str, str]) -> list[list[Any]]:
        cur = self.now_ms // TF_MS
        limit = int(p.get("limit", 500))
        if "startTime" in p:
            first = -(-int(p["startTime"]) // TF_MS)
            idx = range(first, min(cur, first + limit - 1) + 1)
        else:
            idx = range(cur - limit + 1, cur + 1)
        rows = []
        for i in idx:
            o, c = price_at(i - 1), price_at(i)
            rows.append([i * TF_MS, f"{o:.2f}", f"{max(o, c) + 0.3:.2f}",
                         f"{min(o, c) - 0.3:.2f}", f"{c:.2f}", "10.0"])
        return rows

    def liquidity_cap(self, order: Any) -> Decimal | None:
        if order.type != "MARKET":
            return None
        self.market_orders += 1
        if self.partial_every and self.market_orders % self.partial_every == 0:
            return (order.qty * Decimal("0.7")).quantize(Decimal("0.00001"))
        return None

    def trade_split(self, qty: Decimal) -> list[Decimal]:
        first = (qty / 2).quantize(Decimal("0.00001"))
        return [p for p in (first, qty - first) if p > 0]


def bot(name: str, mode: Mode, capital: str = "10000") -> BotConfig:
    return BotConfig(name=name, exchange="binance", symbols=("BTC/USDT",), timeframe="1m",
                     strategy=Flip.name, capital=Decimal(capital), mode=mode)


def runtime_options(db_path: Path, url: str, clock: Any, lock_dir: Path, *,
                    timeout_ms: int = 1000, poll_s: float = 0.005, stale_after_s: float = 600,
                    threshold: int = 5, cooldown_s: float = 0.05) -> Any:
    """The real composition root's options, pointed at the fake exchange, with a fast clock
    and tiny waits (keys come from the fake, not the keyring)."""
    from oxbot.tui.runtime import RuntimeOptions

    policy = RetryPolicy(retries=4, base_s=0.001, max_s=0.004, max_retry_after_s=0.01)
    return RuntimeOptions(
        db_path=db_path, snapshot_every_s=None, resume=True,
        exchange_urls={"binance": url},
        exchange_options={"binance": {"timeout": timeout_ms, "rateLimit": 1,
                                      "timeout_on_exit": 0}},
        stream_options={"clock": clock, "poll_s": poll_s, "stale_after_s": stale_after_s,
                        "retry_s": 0.01, "policy": policy, "breaker_threshold": threshold,
                        "breaker_cooldown_s": cooldown_s},
        exchange_keys=lambda _ex: Credentials(API_KEY, SECRET),
        lock_dir=lock_dir, reconcile="ignore")


async def compare_with_exchange(store: Any, fake: Any, bot_name: str,
                                capital: Decimal) -> dict[str, Any]:
    """What the ledger of LIVE bot ``bot_name`` and the fake exchange disagree on (empty lists
    and zero drifts when they agree). Assumes the bot is the account's only trader."""
    from oxbot.engine.exchange.broker import bot_prefix
    from oxbot.engine.models import OrderStatus
    from oxbot.engine.portfolio import Portfolio

    prefix = bot_prefix(bot_name)
    want = {"NEW": OrderStatus.OPEN, "FILLED": OrderStatus.FILLED,
            "CANCELED": OrderStatus.CANCELED, "EXPIRED": OrderStatus.CANCELED}
    orphans = []
    for o in fake.orders.values():
        if not o.client_order_id.startswith(prefix):
            continue
        status = want.get(o.status, OrderStatus.CANCELED)
        db = await store.get_order(o.client_order_id)
        if db is None or db.status is not status:
            orphans.append((o.client_order_id, o.status, db.status if db else None))
    ghosts = []
    for db in await store.open_orders(bot_name):
        ex = fake.by_coid.get(db.client_order_id)
        if ex is None or ex.status != "NEW":
            ghosts.append((db.client_order_id, db.status, ex.status if ex else None))
    fills = await store.load_fills(bot_name)
    db_ids = [f.fill_id for f in fills]
    ex_ids = [f"binance:{t['id']}" for t in fake.trades]
    pf = Portfolio.from_fills(capital, fills)
    held = pf.position("BTC/USDT")
    return {
        "orphans": orphans, "ghosts": ghosts,
        "missing_fills": sorted(set(ex_ids) - set(db_ids)),
        "extra_fills": sorted(set(db_ids) - set(ex_ids)),
        "duplicate_fills": len(db_ids) - len(set(db_ids)),
        "cash_drift": (pf.cash - capital) - (fake.balances["USDT"] - Decimal("1000000")),
        "position_drift": (held.qty if held else Decimal(0)) - fake.balances["BTC"],
        "fills": len(db_ids), "fees": pf.fees,
    }


CLEAN = {"orphans": [], "ghosts": [], "missing_fills": [], "extra_fills": [],
         "duplicate_fills": 0, "cash_drift": 0, "position_drift": 0}


def disagreements(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k in CLEAN and v != CLEAN[k]}
