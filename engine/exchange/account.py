"""What the bots on one exchange account hold together, against what the account holds.

One bot's ledger compared with the whole account gives false differences whenever two bots
trade one coin, or the user holds coins of their own. The check here sums every LIVE bot of the
exchange (running ones from memory, the others from the store) per coin: the account holding
less than the bots is a difference; holding more is the user's own part, and said so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from oxbot.engine.models import ZERO, BotConfig, BotStatus, Mode, Position, base_of, to_decimal

from .broker import CcxtBroker
from .reconcile import Difference

Holdings = Callable[[], Mapping[str, Decimal]]


class BotsLedger(Protocol):
    """What the account check reads of the stored bots (the Store implements it)."""

    async def load_bots(self) -> Sequence[tuple[BotConfig, BotStatus]]: ...

    async def load_positions(self, bot: str) -> Mapping[str, Position]: ...


class AccountBook:
    """The LIVE bots of this engine, by name, with what each holds."""

    def __init__(self, store: BotsLedger) -> None:
        self.store = store
        self._holdings: dict[str, tuple[BotConfig, Holdings]] = {}

    def register(self, config: BotConfig, holdings: Holdings) -> None:
        self._holdings[config.name] = (config, holdings)

    def unregister(self, name: str) -> None:
        self._holdings.pop(name, None)

    async def held_by_bots(self, exchange: str) -> dict[str, dict[str, Decimal]]:
        """coin -> {bot: quantity} over every LIVE bot of ``exchange``."""
        out: dict[str, dict[str, Decimal]] = {}
        configs = {c.name: c for c, _status in await self.store.load_bots()}
        configs.update({n: c for n, (c, _h) in self._holdings.items()})
        for name, cfg in configs.items():
            if cfg.mode is not Mode.LIVE or cfg.exchange != exchange:
                continue
            if name in self._holdings:
                held = dict(self._holdings[name][1]())
            else:
                held = {s: p.qty for s, p in (await self.store.load_positions(name)).items()}
            for symbol, qty in held.items():
                if qty:
                    coin = out.setdefault(base_of(symbol), {})
                    coin[name] = coin.get(name, ZERO) + qty
        return out

    async def check(self, broker: CcxtBroker, config: BotConfig) -> list[Difference]:
        """Balance differences (and "info" facts) for the coins ``config`` trades."""
        c = broker.client
        balance = await broker.clients.read(c, c.fetch_balance, "fetch balance")
        by_coin = await self.held_by_bots(config.exchange)
        diffs: list[Difference] = []
        for symbol in config.symbols:
            coin = base_of(symbol)
            entry = balance.get(coin) if isinstance(balance, Mapping) else None
            raw = entry.get("total") if isinstance(entry, Mapping) else None
            account = to_decimal(raw) if raw is not None else ZERO
            bots = by_coin.get(coin, {})
            total = sum(bots.values(), ZERO)
            who = ", ".join(f"{n} {q}" for n, q in sorted(bots.items())) or "none"
            if account < total:
                diffs.append(
                    Difference(
                        "balance",
                        symbol,
                        f"the bots on {config.exchange} hold {total} {coin} "
                        f"({who}) but the account only {account}: {total - account} {coin} is "
                        "missing (sold outside oxbot, or a fill the ledger should not have)",
                        actions=("ignore",),
                    )
                )
            elif account > total:
                diffs.append(
                    Difference(
                        "info",
                        symbol,
                        f"{config.exchange} {coin}: the account holds {account}, "
                        f"the bots {total} ({who}); {account - total} {coin} is your own, not "
                        "traded by oxbot",
                        actions=(),
                    )
                )
        return diffs
