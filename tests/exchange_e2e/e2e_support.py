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

from oxbot.engine.models import BotConfig, Mode, RiskLimits
from oxbot.engine.strategies import REGISTRY, Strategy
from oxbot.engine.strategies.base import ENTER, EXIT

_HERE = Path(__file__).parent
TF_MS = 60_000
T0_MS = 1_700_000_000_000


def _load_fake() -> Any:
    key = "_oxbot_exchange_e2e_fake_binance"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            key, _HERE.parent / "exchange" / "fake_binance.py"
        )
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


class BuyAndHold(Strategy):
    """Always wants in: one buy fills the position limit, the risk manager refuses the rest."""

    name = "e2e_buy_and_hold"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


REGISTRY[BuyAndHold.name] = BuyAndHold


def holder(name: str, capital: str = "10000") -> BotConfig:
    """A LIVE bot that buys once and holds: a top-up below 500 USDT is refused and its stops
    are out of reach, so after its first buy it places no other order."""
    return bot(name, Mode.LIVE, capital).model_copy(
        update={
            "strategy": BuyAndHold.name,
            "risk": RiskLimits(
                min_notional=Decimal("500"),
                stop_loss_pct=Decimal("50"),
                take_profit_pct=Decimal("1000"),
            ),
        }
    )


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
            rows.append(
                [
                    i * TF_MS,
                    f"{o:.2f}",
                    f"{max(o, c) + 0.3:.2f}",
                    f"{min(o, c) - 0.3:.2f}",
                    f"{c:.2f}",
                    "10.0",
                ]
            )
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
    return BotConfig(
        name=name,
        exchange="binance",
        symbols=("BTC/USDT",),
        timeframe="1m",
        strategy=Flip.name,
        capital=Decimal(capital),
        mode=mode,
    )


def runtime_options(db_path: Path, url: str, home: Path) -> Any:
    """The real composition root's options for an engine a user pointed at the fake exchange:
    ``<home>/config/settings.json`` sends binance there (fast polling, tiny backoffs); the
    keys come from where a user's come from (the keyring, or OXBOT_BINANCE_* variables)."""
    import json

    from oxbot.app.runtime import RuntimeOptions, exchange_options

    path = home / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "exchanges": {
                    "binance": {
                        "url": url,
                        "timeout_ms": 1000,
                        "poll_s": 0.005,
                        "retries": 4,
                        "backoff_s": 0.001,
                        "backoff_max_s": 0.004,
                        "breaker_after": 5,
                        "breaker_cooldown_s": 0.05,
                        "options": {"recvWindow": 1500},
                    }
                }
            }
        )
    )
    return RuntimeOptions(
        db_path=db_path, snapshot_every_s=None, resume=True, **exchange_options(path)
    )
