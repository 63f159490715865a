"""Portfolio.position is cached per lot (engine/portfolio.py): every change of the lot (a buy, a
partial or whole sell, new stops) must show in the next read, exactly as a wallet rebuilt from
the same fills shows it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from oxbot.engine.models import Fill, OrderReason, Side
from oxbot.engine.portfolio import Portfolio

D = Decimal
SYMBOLS = ("A/U", "B/U")

amounts = st.decimals(min_value=D("0.001"), max_value=D("5"), places=3)
prices = st.decimals(min_value=D("1"), max_value=D("1000"), places=2)
# (kind, symbol, amount, price): kind 0 buy, 1 sell a share of what is held, 2 new stops
steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(SYMBOLS), amounts, prices),
    min_size=1,
    max_size=40,
)


def _fill(n: int, sym: str, side: Side, qty: Decimal, price: Decimal) -> Fill:
    reason = OrderReason.ENTRY if side is Side.BUY else OrderReason.EXIT
    return Fill(f"f{n}", f"o{n}", "b", sym, side, qty, price, D("0.01"), n, reason)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_a_cached_position_is_what_a_rebuilt_wallet_reads(ops: list[tuple]) -> None:
    live = Portfolio(D("100000"))
    fills: list[Fill] = []
    stops: dict[str, tuple[Decimal | None, Decimal | None]] = {}
    for n, (kind, sym, amount, price) in enumerate(ops):
        for s in SYMBOLS:  # read before the change: a cached Position now exists
            live.position(s)
        held = live.position(sym)
        if kind == 0:
            f = _fill(n, sym, Side.BUY, amount, price)
        elif kind == 1 and held is not None:
            qty = min(held.qty, (held.qty * amount / 5).quantize(D("0.001")))
            if qty <= 0:
                continue
            f = _fill(n, sym, Side.SELL, qty, price)
        elif kind == 2 and held is not None:
            stops[sym] = (price / 2, price * 2)
            live.set_stops(sym, *stops[sym])
            f = None
        else:
            continue
        if f is not None:
            live.apply(f)
            fills.append(f)
            if live.position(sym) is None:
                stops.pop(sym, None)
        rebuilt = Portfolio.from_fills(D("100000"), fills, stops)
        assert live.positions == rebuilt.positions
        for s in SYMBOLS:
            assert live.position(s) == rebuilt.position(s)
            assert live.holds(s) is (rebuilt.position(s) is not None)
