"""The Decimal ledger: exact invariants under any sequence of fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oxbot.engine.models import Fill, OrderReason, Side
from oxbot.engine.portfolio import Portfolio

D = Decimal


def fill(n: int, side: Side, qty: str, price: str, fee: str, sym: str = "BTC/USDT") -> Fill:
    return Fill(
        f"f{n}",
        f"o{n}",
        "b",
        sym,
        side,
        D(qty),
        D(price),
        D(fee),
        n,
        OrderReason.ENTRY if side is Side.BUY else OrderReason.EXIT,
    )


def test_round_trip_books_exact_cash_pnl_and_fees() -> None:
    p = Portfolio(D("1000"))
    p.apply(fill(1, Side.BUY, "0.1", "100.10", "0.01001"))
    p.apply(fill(2, Side.BUY, "0.2", "99.95", "0.01999"))
    assert p.position("BTC/USDT").qty == D("0.3")
    pnl = p.apply(fill(3, Side.SELL, "0.3", "101", "0.0303"))
    assert pnl == D("0.3") * D("101") - (D("0.1") * D("100.10") + D("0.2") * D("99.95"))
    assert p.fees == D("0.01001") + D("0.01999") + D("0.0303")
    assert p.cash == D("1000") + p.realised - p.fees  # flat: cash = start + realised - fees
    assert p.positions == {} and p.trades == 1


def test_selling_more_than_held_is_refused() -> None:
    p = Portfolio(D("1000"))
    p.apply(fill(1, Side.BUY, "1", "10", "0"))
    with pytest.raises(ValueError, match="exceeds the position"):
        p.apply(fill(2, Side.SELL, "2", "10", "0"))


amounts = st.decimals(min_value=D("0.00000001"), max_value=D("5"), places=8)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), amounts, prices, st.sampled_from(["A/U", "B/U"])),
        min_size=1,
        max_size=60,
    )
)
def test_invariant_holds_after_every_fill(ops: list[tuple[bool, Decimal, Decimal, str]]) -> None:
    p = Portfolio(D("100000"))
    for n, (buy, qty, price, sym) in enumerate(ops):
        held = p.position(sym)
        if not buy:
            if held is None:
                continue
            qty = min(qty, held.qty)
        fee = (qty * price * D("0.001")).quantize(D("0.0000000001"))
        p.apply(fill(n, Side.BUY if buy else Side.SELL, str(qty), str(price), str(fee), sym))
        assert p.cash + p.cost_basis() == p.start_cash + p.realised - p.fees
    replay = Portfolio.from_fills(D("100000"), [])
    assert replay.cash == D("100000")


flows = st.decimals(min_value=D("-5000"), max_value=D("5000"), places=2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("fill"), st.booleans(), amounts, prices, st.sampled_from(["A/U", "B/U"])
            ),
            st.tuples(st.just("flow"), flows),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_invariant_holds_with_deposits_and_withdrawals(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    """cash + cost basis = start + deposits + realised - fees, exactly, after every fill and
    every capital flow; a withdrawal beyond the free cash is refused and changes nothing; a
    rebuild from the fills and the flows gives the same wallet."""
    from oxbot.engine.models import CapitalFlow

    p = Portfolio(D("10000"))
    fills: list[Fill] = []
    booked: list[CapitalFlow] = []
    for n, op in enumerate(ops):
        if op[0] == "flow":
            amount = op[1]
            if -amount > p.cash:
                before = (p.cash, p.deposits)
                with pytest.raises(ValueError, match="exceeds the free cash"):
                    p.transfer(amount)
                assert (p.cash, p.deposits) == before
                continue
            p.transfer(amount)
            booked.append(CapitalFlow("b", n, amount, p.net_deposits, D(0)))
        else:
            _, buy, qty, price, sym = op
            held = p.position(sym)
            if not buy:
                if held is None:
                    continue
                qty = min(qty, held.qty)
            fee = (qty * price * D("0.001")).quantize(D("0.0000000001"))
            if buy and qty * price + fee > p.cash:
                continue
            f = fill(n, Side.BUY if buy else Side.SELL, str(qty), str(price), str(fee), sym)
            p.apply(f)
            fills.append(f)
        assert p.invariant_holds()
        assert p.cash + p.cost_basis() == p.start_cash + p.deposits + p.realised - p.fees
    replay = Portfolio.from_fills(D("10000"), fills, flows=booked)
    assert (replay.cash, replay.deposits, replay.realised, replay.fees) == (
        p.cash,
        p.deposits,
        p.realised,
        p.fees,
    )
    assert (
        replay.net_deposits == p.net_deposits == D("10000") + sum((f.amount for f in booked), D(0))
    )


def coin_fee_fill(n: int, side: Side, qty: D, price: D, fee: D, ccy: str) -> Fill:
    """A LIVE fill whose fee the exchange charged in ``ccy`` (its quote value in ``fee`` as
    the broker books it: itself in USDT, ``fee x price`` in the base coin, 0 in a third)."""
    value = fee if ccy == "USDT" else fee * price if ccy == "BTC" else D(0)
    return Fill(
        f"f{n}",
        f"o{n}",
        "b",
        "BTC/USDT",
        side,
        qty,
        price,
        value,
        n,
        OrderReason.ENTRY if side is Side.BUY else OrderReason.EXIT,
        fee_currency=ccy,
        fee_cost=fee,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.integers(1, 5000),
            st.integers(50, 150),
            st.integers(0, 30),
            st.sampled_from(["USDT", "BTC", "BNB"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_fees_in_any_coin_keep_the_ledger_exact(
    steps: list[tuple[bool, int, int, int, str]],
) -> None:
    """Buys and sells whose fee is in USDT, in the coin itself (a buy gets qty - fee; a sell's
    fee beyond what the bot holds came from the user's own coins) or in BNB (not priced): the
    invariant holds, the position is never negative, and a buy holds what arrived."""
    p = Portfolio(D("100000"))
    for n, (buy, q, px, f, ccy) in enumerate(steps):
        qty, price = D(q) / 1000, D(px)
        fee = qty * f / 1000 if ccy == "BTC" else D(f) / 100
        held = p.position("BTC/USDT")
        if buy:
            before = held.qty if held else D(0)
            p.apply(coin_fee_fill(n, Side.BUY, qty, price, fee, ccy))
            after = p.position("BTC/USDT")
            got = qty - (fee if ccy == "BTC" else 0)
            assert (after.qty if after else D(0)) == before + got
        elif held is not None:
            sell = min(qty, held.qty)
            p.apply(coin_fee_fill(n, Side.SELL, sell, price, fee, ccy))
        assert p.invariant_holds()
        pos = p.position("BTC/USDT")
        assert pos is None or pos.qty > 0
