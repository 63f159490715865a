"""Finding: a LIVE bot trading BNB/USDT on a Binance account that pays fees in BNB ("Use BNB to
pay for fees", with some BNB of the user's own in the account, as that option needs) cannot
book its own exit: the sell's fee is charged in BNB, the base coin, and the ledger refuses a
sell whose quantity plus base-coin fee exceeds the position ("sell of ... exceeds the
position"). The sell filled on the exchange; the ledger still holds the position, so the bot
sells again at the next decision (and the next), from the user's own BNB.

Binance: with BNB fee deduction on, commissionAsset is BNB for trades of every symbol while the
account holds enough BNB, BNBUSDT included; the FULL reply's fills and myTrades carry it
(ccxt binance.py parse_trade: fee = {'cost': commission, 'currency': commissionAsset}).
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_live import FAKES, SCRIPTS, live_bot, load_fake, start_live  # noqa: E402

pytestmark = pytest.mark.usefixtures("own_home")  # settings, data and logs of its own

load_fake("fake_base")
_spec = importlib.util.spec_from_file_location("_adv_fake_binance_bnb", FAKES / "fake_binance.py")
assert _spec is not None and _spec.loader is not None
fbb = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fbb
_spec.loader.exec_module(fbb)
fbb.SYMBOL = "BNBUSDT"  # this copy of the fake lists BNBUSDT instead of BTCUSDT


class BnbBinance(fbb.FakeBinance):  # type: ignore[misc,valid-type]
    base_asset = "BNB"


async def test_bnb_fee_on_exit_is_not_booked_and_the_bot_sells_again(tmp_path: Path) -> None:
    own_bnb = Decimal("40")  # the user's own BNB, kept for fees (and held)
    fake = BnbBinance(
        fee_mode="bnb",
        bnb_price=Decimal("100"),
        balances={"USDT": Decimal("1000000"), "BNB": own_bnb},
    )
    await fake.start()
    SCRIPTS["bnb"] = [
        {"BNB/USDT": "buy"},
        {"BNB/USDT": "close"},
        {"BNB/USDT": "close"},
        {"BNB/USDT": "close"},
    ]
    live = await start_live(tmp_path, fake, [live_bot("bnb", ("BNB/USDT",))])
    try:
        r = live.runner("bnb")
        t0 = 1_700_000_100_000
        for i in range(4):
            await live.bar("bnb", t0 + i * 60_000)
        sells = [o for o in fake.orders.values() if o.side == "SELL"]
        print(
            "exchange orders:", [(o.side, str(o.executed), o.status) for o in fake.orders.values()]
        )
        print(
            "exchange trades (qty, fee, asset):",
            [(t["qty"], t["commission"], t["commissionAsset"]) for t in fake.trades],
        )
        print("exchange BNB balance:", fake.balances["BNB"], "(user's own was", own_bnb, ")")
        print("ledger position:", r.portfolio.position("BNB/USDT"))
        print("\n".join(live.notices()))
        assert len(sells) == 1, f"the bot sold {len(sells)} times for one exit"
        assert r.portfolio.position("BNB/USDT") is None
    finally:
        await live.stop()
        await fake.stop()


async def test_bnb_fee_exit_blocks_the_bot_after_a_restart(tmp_path: Path) -> None:
    """The exit's order stays PENDING in the database with its fills unbooked; a restart looks
    it up, gets the same fills, and the ledger refuses them again: the bot cannot resume."""
    fake = BnbBinance(
        fee_mode="bnb",
        bnb_price=Decimal("100"),
        balances={"USDT": Decimal("1000000"), "BNB": Decimal("40")},
    )
    await fake.start()
    SCRIPTS["bnb2"] = [{"BNB/USDT": "buy"}, {"BNB/USDT": "close"}]
    live = await start_live(tmp_path, fake, [live_bot("bnb2", ("BNB/USDT",))])
    t0 = 1_700_000_100_000
    try:
        for i in range(2):
            await live.bar("bnb2", t0 + i * 60_000)
    finally:
        await live.stop()
    from oxbot.engine.models import BotStatus  # noqa: PLC0415
    from oxbot.storage.store import Store  # noqa: PLC0415

    SCRIPTS["bnb2"] = [{"BNB/USDT": "hold"}] * 5
    live = await start_live(tmp_path, fake, [], db=tmp_path / "oxbot.db")
    try:
        r = live.runner("bnb2")
        print("after restart:", r.status, r.portfolio.position("BNB/USDT"))
        print("\n".join(live.notices()))
        from oxbot.engine.messages import EngineError  # noqa: PLC0415

        print([e.message for e in live.events if isinstance(e, EngineError)])
        assert r.status is BotStatus.RUNNING
        assert r.portfolio.position("BNB/USDT") is None
    finally:
        await live.stop()
        await fake.stop()
    _ = Store
