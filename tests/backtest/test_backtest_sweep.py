"""The pure pieces of a sweep (engine/backtest/sweep.py): specs read against the schema, the
combinations the schema refuses, the held-out split and walk-forward folds (property tests),
ranking with n/a last, and the result's JSON round-trip.

The sma_cross schema read here is engine/strategies/rules.py: fast int 2..500, slow int
3..2000, and a validator "fast (F) must be shorter than slow (S)"; rsi_reversion's oversold
is a float with gt=0, lt=100.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oxbot.engine.backtest.sweep import (
    Axis,
    Fold,
    SweepResult,
    SweepRow,
    SweepSpecError,
    Window,
    check_combos,
    combine,
    field_ranges,
    grid,
    holdout_split,
    parse_holdout,
    parse_sweep,
    rank,
    search_axes,
    skipped_text,
    walk_forward,
)
from oxbot.engine.strategies import strategy_class

SMA = field_ranges(strategy_class("sma_cross").Params)
RSI = field_ranges(strategy_class("rsi_reversion").Params)


def test_the_schema_bounds_are_read_from_the_fields() -> None:
    assert (SMA["fast"].kind, SMA["fast"].lo, SMA["fast"].hi) == ("int", 2, 500)
    assert SMA["fast"].text() == "2..500"
    over = RSI["oversold"]
    assert (over.kind, over.lo_open, over.hi_open) == ("float", True, True)
    assert not over.contains(0) and over.contains(0.5) and not over.contains(100)


def test_grid_specs_are_inclusive_and_typed() -> None:
    assert parse_sweep("fast=5:30:5", SMA).values == (5, 10, 15, 20, 25, 30)
    assert parse_sweep("fast=5,7,9", SMA).values == (5, 7, 9)
    # decimals for float fields: no 0.30000000000000004
    assert parse_sweep("oversold=0.1:0.3:0.1", RSI).values == (0.1, 0.2, 0.3)
    assert parse_sweep("slow=20:100", SMA, grid=False) == Axis("slow", (), 20.0, 100.0, None, "int")


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (
            "fast=1:30:5",
            ["--sweep fast=1:30:5", "1 is outside fast's range 2..500", "within 2..500"],
        ),
        ("fsat=5:30:5", ["no parameter 'fsat'", "fast (int, 2..500), slow (int, 3..2000)"]),
        ("fast=5:30", ["from:to:step"]),
        ("fast=5.5,6", ["fast (int, 2..500) takes whole numbers"]),
        ("fast=30:5:5", ["swap them"]),
        ("fast=5:30:0", ["step must be above 0"]),
        ("fast=5,5", ["given twice"]),
        ("fast", ["NAME=VALUES"]),
        ("oversold=0,10", ["0 is outside oversold's range 0 < x < 100"]),
    ],
)
def test_bad_specs_say_the_parameter_its_range_and_the_fix(spec: str, said: list[str]) -> None:
    ranges = RSI if spec.startswith("oversold") else SMA
    with pytest.raises(SweepSpecError) as e:
        parse_sweep(spec, ranges)
    for part in said:
        assert part in str(e.value)


def test_refused_combinations_are_counted_by_reason_not_raised() -> None:
    axes = [parse_sweep("fast=10:40:10", SMA), parse_sweep("slow=20:40:10", SMA)]
    combos = grid(axes)
    assert len(combos) == 12
    ok, skipped = check_combos(strategy_class("sma_cross"), {}, combos, shortest=1000)
    assert all(c["fast"] < c["slow"] for c in ok) and len(ok) == 6
    assert dict(skipped) == {"fast must be shorter than slow": 6}
    assert (
        skipped_text(skipped, 12) == "6 of 12 combinations skipped: fast must be shorter than slow"
    )
    # a warm-up longer than the shortest window is a skip too
    ok, skipped = check_combos(strategy_class("sma_cross"), {}, [{"fast": 5, "slow": 40}], 30)
    assert not ok and sum(skipped.values()) == 1


def test_search_ranges_come_from_the_schema_unless_narrowed_or_fixed() -> None:
    narrowed = [parse_sweep("slow=20:100", SMA, grid=False)]
    axes = search_axes(SMA, narrowed, fixed={})
    assert [(a.name, a.lo, a.hi) for a in axes] == [("slow", 20, 100), ("fast", 2, 500)]
    assert [a.name for a in search_axes(SMA, [], fixed={"fast": 10})] == ["slow"]
    rsi = {a.name: a for a in search_axes(RSI, [], fixed={})}
    assert 0 < rsi["oversold"].lo < 1e-300 and rsi["oversold"].hi < 100  # gt/lt: inside


def _row(sharpe: float | None, n: int) -> SweepRow:
    return SweepRow({"fast": n}, {"sharpe": sharpe, "return_pct": 1.0})


def test_n_a_ranks_last_never_first() -> None:
    rows = [_row(None, 1), _row(0.5, 2), _row(None, 3), _row(2.0, 4), _row(-1.0, 5)]
    assert [r.params["fast"] for r in rank(rows, "sharpe")] == [4, 2, 5, 1, 3]


def test_combined_held_out_compounds_returns() -> None:
    c = combine(
        [
            {"return_pct": 10.0, "trades": 3, "max_drawdown_pct": 4.0, "sharpe": 1.0},
            {"return_pct": -10.0, "trades": 2, "max_drawdown_pct": 7.0, "sharpe": None},
        ],
        "sharpe",
    )
    assert c == {
        "return_pct": -1.0,
        "trades": 5,
        "max_drawdown_pct": 7.0,
        "folds": 2,
        "sharpe": None,  # n/a in one fold: no mean of the other alone (adv13 A10)
        "objective_folds": 1,
    }


def test_the_result_round_trips_through_json() -> None:
    row = SweepRow({"fast": 5, "slow": 20}, {"sharpe": 1.5, "trades": 12}, {"sharpe": None}, 0)
    result = SweepResult(
        strategy="sma_cross",
        objective="sharpe",
        mode="grid",
        param_names=["fast", "slow"],
        ranges={"fast": [5, 10], "slow": [20]},
        rows=[row],
        total=2,
        skipped={"fast must be shorter than slow": 1},
        folds=[Fold(0, Window(0, 10), Window(10, 20), (1, 2), (3, 4), row)],
        combined={"return_pct": 1.0},
        first_ts=1,
        last_ts=4,
    )
    text = json.dumps(result.to_json())
    back = SweepResult.from_json(json.loads(text))
    assert back == result and json.dumps(back.to_json()) == text
    assert back.to_json() == json.loads(text)


@given(bars=st.integers(2, 200_000), pct=st.integers(1, 90))
def test_the_holdout_split_covers_the_range_in_order(bars: int, pct: int) -> None:
    from decimal import Decimal

    fraction = parse_holdout(f"{pct}%")
    assert fraction == Decimal(pct) / 100
    train, test = holdout_split(bars, fraction)
    assert train.start == 0 and train.stop == test.start and test.stop == bars
    assert len(train) >= 1 and len(test) >= 1
    assert len(test) == max(1, int(bars * Decimal(pct) / 100))


@given(bars=st.integers(2, 100_000), folds=st.integers(1, 40))
def test_walk_forward_folds_never_overlap_and_test_after_train(bars: int, folds: int) -> None:
    size = bars // (folds + 1)
    if size < 2:
        with pytest.raises(SweepSpecError, match="fewer folds"):
            walk_forward(bars, folds)
        return
    out = walk_forward(bars, folds)
    assert len(out) == folds
    for k, (train, test) in enumerate(out):
        assert len(train) == size and train.stop == test.start  # held-out right after train
        assert 0 <= train.start < train.stop < test.stop <= bars
        if k:
            assert out[k - 1][1].stop == test.start  # held-out windows tile, no overlap
    assert out[0][1].start == size and out[-1][1].stop == bars


@pytest.mark.parametrize("text", ["0.5%", "95%", "abc", "", "-3"])
def test_bad_holdouts_say_the_range(text: str) -> None:
    with pytest.raises(SweepSpecError, match="from 1 to 90"):
        parse_holdout(text)
