"""The cockpit's sweep view (ctrl+s on the backtest screen, tui/screens/sweep.py): a real sweep
through oxbot.app.sweeps.run_sweep over generated candles in the test's home, its table (best
first, the held-out columns beside the in-sample ones), its heatmap, the export, escape during
a sweep (no worker process left), and snapshots of the table and the heatmap at 80x24 and
120x40.

What the tests rely on, and where it is written: sma_cross's schema (engine/strategies/rules.py:
fast 2..500, slow 3..2000, fast below slow); rsi_reversion's (length 2..200, oversold and
overbought 0..100); the held-out period is the last ``int(bars * pct)`` candles and each window
is its own backtest starting flat (engine/backtest/sweep.py holdout_split, app/sweeps.py
CandleEvaluator); the worker processes are multiprocessing children (app/sweeps.py Runner: a
ProcessPoolExecutor on the spawn context), so ``multiprocessing.active_children()`` lists them.
"""

from __future__ import annotations

import asyncio
import csv
import json
import multiprocessing
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from textual.color import Color
from textual.widgets import DataTable, Input, Select, Static
from tui_pilot import notifications, screen_text
from tui_sim import wait_until
from waiting import wait_for

from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.backtest import BacktestScreen
from oxbot.tui.screens.sweep import SweepScreen, prefill
from oxbot.tui.widgets.sweep_heatmap import HeatGrid, Scale, heat_grid


def candles(path: Path, n: int = 1500, seed: int = 11) -> Path:
    """A seeded random walk with trending stretches: SMA crosses happen often for short
    averages and rarely for long ones (a Sharpe for some sets, n/a for others)."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 0.004, n // 60 + 1), 60)[:n]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [
        f"{t},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},1"
        for t, o, h, lo, c in zip(ts, open_, high, low, close, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path))
    return tmp_path


async def open_sweep(pilot, data: Path, strategy: str = "sma_cross") -> SweepScreen:
    app = pilot.app
    await pilot.pause(0.05)
    await pilot.press("b")
    await wait_until(pilot, lambda: isinstance(app.screen, BacktestScreen), "the backtest screen")
    if strategy != "sma_cross":
        app.screen.query_one("#bt-strategy", Select).value = strategy
        await wait_until(
            pilot,
            lambda: bool(app.screen.query(f"#p-{'length' if 'rsi' in strategy else 'fast'}")),
            "the strategy's parameters",
        )
    app.screen.query_one("#bt-data", Input).value = str(data)
    await pilot.pause(0.05)
    await pilot.press("ctrl+s")
    await wait_until(pilot, lambda: isinstance(app.screen, SweepScreen), "the sweep screen")
    await pilot.pause(0.05)
    return app.screen


async def set_fields(pilot, screen: SweepScreen, **values: str) -> None:
    """``fast="4:12:4"`` sets from/to/step; ``objective=``, ``mode=`` the selects; ``held=``,
    ``jobs=`` the inputs."""
    for key, value in values.items():
        if key in ("objective", "mode"):
            screen.query_one(f"#sw-{key}", Select).value = value
            await pilot.pause(0.05)
        elif key in ("held", "jobs"):
            screen.query_one(f"#sw-{key}", Input).value = value
        else:
            for part, v in zip(("from", "to", "step"), value.split(":"), strict=True):
                screen.query_one(f"#sw-{part}-{key}", Input).value = v
    await pilot.pause(0.05)


async def run_sweep(pilot, screen: SweepScreen, timeout: float = 120.0) -> None:
    before = screen.result
    await pilot.press("ctrl+r")
    await wait_until(
        pilot,
        lambda: not screen.running and (screen.result is not before or screen.last_error),
        "the sweep to finish",
        timeout=timeout,
    )
    await pilot.pause(0.1)


def table_rows(screen: SweepScreen) -> tuple[list[str], list[list[str]]]:
    """The table's column keys and its cells as text, top row first."""
    table = screen.query_one("#sw-table", DataTable)
    keys = [str(c.key.value) for c in table.ordered_columns]
    rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    return keys, rows


def direct_return(data: Path, params: dict, start: int, stop: int) -> float:
    """The return % of one backtest over candles [start, stop), run without the sweep code."""
    from oxbot.app import backtests  # noqa: PLC0415

    frame = backtests.load_candles(str(data)).iloc[start:stop].reset_index(drop=True)
    spec = backtests.Backtest(
        backtests.strategy("sma_cross", params),
        source=str(data),
        symbol="BTC/USDT",
        cash=Decimal("10000"),
        fee_rate=Decimal("0.001"),
        slippage_bps=Decimal("0"),
        use_risk=True,
    )
    return float(backtests.run(frame, spec).metrics["return_pct"])


async def test_a_sweep_ranks_by_the_objective_beside_the_held_out_and_exports(
    scripted_client, fixed_clock, home
):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=900)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        # pre-filled from the schema's ranges
        assert screen.query_one("#sw-from-fast", Input).value == "2"
        assert screen.query_one("#sw-to-fast", Input).value == "500"
        assert screen.query_one("#sw-to-slow", Input).value == "2000"
        await set_fields(pilot, screen, fast="4:12:4", slow="20:60:20", objective="return")
        await set_fields(pilot, screen, jobs="1")
        assert "9 combinations" in screen_text(app)
        await run_sweep(pilot, screen)
        assert screen.last_error == "" and screen.result is not None
        keys, rows = table_rows(screen)
        assert keys[:3] == ["rank", "p:fast", "p:slow"]
        for side in ("in_sample", "held_out"):
            for metric in ("return_pct", "sharpe", "trades"):
                assert f"{side}:{metric}" in keys
        assert len(rows) == 9  # every combination runs (fast is below slow in all of them)
        # the best by the objective, found here with plain backtests of the search window
        n, held = 900, int(900 * 0.3)
        grid = [{"fast": f, "slow": s} for f in (4, 8, 12) for s in (20, 40, 60)]
        scores = {(p["fast"], p["slow"]): direct_return(data, p, 0, n - held) for p in grid}
        best = max(scores, key=scores.__getitem__)
        assert (int(rows[0][1]), int(rows[0][2])) == best
        col = keys.index("in_sample:return_pct")
        shown = [float(r[col].replace(",", "")) for r in rows]
        assert shown == sorted(shown, reverse=True)
        assert shown[0] == pytest.approx(scores[best], abs=0.005)
        # the held-out column: the same set over the last 30 %, which the sweep never saw
        held_col = keys.index("held_out:return_pct")
        held_ret = direct_return(data, dict(zip(("fast", "slow"), best, strict=True)), n - held, n)
        assert float(rows[0][held_col].replace(",", "")) == pytest.approx(held_ret, abs=0.005)
        assert "Held out (30%" in screen_text(app)
        # export: CSV and JSON through the CLI's export code, and the screen says where
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.last_export is not None, "the export")
        base = screen.last_export
        assert base.parent == home / "data" / "sweeps"
        said = [note.message for note in notifications(app)]
        assert any(str(base) in m for m in said), said
        with open(f"{base}.csv", newline="") as fh:
            exported = list(csv.DictReader(fh))
        assert len(exported) == 9
        assert (int(exported[0]["fast"]), int(exported[0]["slow"])) == best
        assert float(exported[0]["held_out_return_pct"]) == pytest.approx(held_ret, abs=0.005)
        loaded = json.loads(Path(f"{base}.json").read_text())
        assert loaded["objective"] == "return" and loaded["holdout"] == "30%"
        assert [r["params"] for r in loaded["rows"]] == [r.params for r in screen.result.rows]


async def test_walk_forward_shows_each_folds_best_and_its_held_out(
    scripted_client, fixed_clock, home
):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=900)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        await set_fields(pilot, screen, fast="4:8:4", slow="20:40:20", objective="return")
        await set_fields(pilot, screen, mode="walk")
        assert screen.query_one("#sw-held", Input).value == "4"
        await set_fields(pilot, screen, held="2", jobs="1")
        await run_sweep(pilot, screen)
        assert screen.last_error == ""
        keys, rows = table_rows(screen)
        assert [r[0] for r in rows] == ["1", "2"]  # the fold column
        held = keys.index("held_out:return_pct")
        assert all(r[held] not in ("", "-") for r in rows)
        summary = str(screen.query_one("#sw-summary", Static).render())
        assert "Chained held-out: return" in summary
        assert "fold 1: train 2023-11-14.." in summary and "fold 2: train" in summary
        await pilot.press("3")
        await pilot.pause(0.1)
        assert "Walk-forward keeps only each fold's best" in screen_text(app)


async def test_bad_fields_are_named_and_block_the_run(scripted_client, fixed_clock, home):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=300)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        await set_fields(pilot, screen, fast="4:600:4", held="95")
        await wait_until(  # the errors are drawn once the fields' changes are validated
            pilot,
            lambda: (
                "600 is outside fast's range 2..500" in screen_text(app)
                and "a percentage from 1 to 90" in screen_text(app)
            ),
            "both errors on screen",
            detail=lambda: screen_text(app),
        )
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert not screen.running and screen.result is None
        # from = to holds a value: with no range left there is nothing to sweep
        await set_fields(pilot, screen, fast="10:10:1", slow="30:30:1", held="30")
        assert "give at least one parameter a range" in screen_text(app)


async def test_b_on_the_sweep_screen_opens_no_second_backtest(scripted_client, fixed_clock, home):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=300)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        app.set_focus(None)  # not typing in a field: the key reaches the app's binding
        await pilot.press("b")
        await pilot.pause(0.1)
        assert app.screen is screen
        assert sum(isinstance(s, BacktestScreen) for s in app.screen_stack) == 1


async def test_the_heatmap_switches_pairs_and_sides(scripted_client, fixed_clock, home):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=600)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data, strategy="rsi_reversion")
        await set_fields(
            pilot,
            screen,
            length="7:14:7",
            oversold="20:30:10",
            overbought="70:80:10",
            objective="return",
            jobs="1",
        )
        await run_sweep(pilot, screen)
        assert screen.last_error == ""
        await pilot.press("3")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "in-sample return % by length and oversold" in text
        assert "the best over overbought" in text
        await pilot.press("p")
        await pilot.pause(0.1)
        assert "by length and overbought" in screen_text(app)
        await pilot.press("h")
        await pilot.pause(0.1)
        assert "held-out return % by length and overbought" in screen_text(app)
        for theme in ("oxbot-light", "oxbot-contrast"):  # ANSI colours: no blends, no crash
            app.theme = theme
            await pilot.pause(0.1)
            assert "held-out return % by length and overbought" in screen_text(app)


@pytest.mark.slow
async def test_escape_during_a_sweep_leaves_no_worker_process(scripted_client, fixed_clock, home):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=3000)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    assert not multiprocessing.active_children()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        await set_fields(pilot, screen, fast="2:100:1", slow="50:500:5", objective="return")
        await set_fields(pilot, screen, jobs="2")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.running, "the sweep to start")
        # a worker process up and the sweep under way
        await wait_until(
            pilot,
            lambda: multiprocessing.active_children() and "backtests" in screen_text(app),
            "a worker process and the first results",
            timeout=60,
        )
        workers = [p.pid for p in multiprocessing.active_children()]
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.running, "the sweep to stop", timeout=60)
        assert screen.last_error == "cancelled" and screen.result is None
        assert "Sweep cancelled" in screen_text(app)
        assert isinstance(app.screen, SweepScreen)  # escape cancelled; it did not close
        assert not multiprocessing.active_children()
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists(), f"worker {pid} is still alive"
        assert not [pid for pid in _children() if b"spawn_main" in _cmdline(pid)], (
            "a spawned worker is left"
        )
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, BacktestScreen)


@pytest.mark.slow
async def test_quitting_during_a_sweep_leaves_no_worker_process(scripted_client, fixed_clock, home):
    data = candles(home / "gen_BTC-USDT_1h.csv", n=3000)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep(pilot, data)
        await set_fields(pilot, screen, fast="2:100:1", slow="50:500:5", objective="return")
        await set_fields(pilot, screen, jobs="2")
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: multiprocessing.active_children() and "backtests" in screen_text(app),
            "a worker process and the first results",
            timeout=60,
        )
        workers = [p.pid for p in multiprocessing.active_children()]
        app.exit()
    # the screen's unmount asked the worker thread to stop and its pool shuts down (about 3 s
    # here), long before the 9,009 combinations (two minutes or more) would have run out
    await wait_for(
        lambda: not multiprocessing.active_children(), 20, "the workers to exit", pause=_nap
    )
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} is still alive"


async def _nap() -> None:
    await asyncio.sleep(0.1)


def _children() -> list[int]:
    me = os.getpid()
    out = []
    for task in Path(f"/proc/{me}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# --- snapshots ------------------------------------------------------------------------------


def _sweep_picture(snap_compare, client, clock, home: Path, size, *keys: str) -> bool:
    """A 6 x 8 grid of sma_cross ranked by Sharpe (the default): values, n/a (too few
    trades) and combinations the schema refused (fast not below slow), on one process."""
    data = candles(home / "gen_BTC-USDT_1h.csv")
    app = OxbotApp(client, clock=clock)
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        screen = await open_sweep(pilot, data)
        await set_fields(pilot, screen, fast="4:24:4", slow="10:80:10", jobs="1")
        await run_sweep(pilot, screen)
        assert screen.last_error == ""
        await pilot.press(*keys)
        await pilot.pause(0.3)

    return snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_sweep_table(snap_compare, scripted_client, fixed_clock, home, size):
    assert _sweep_picture(snap_compare, scripted_client, fixed_clock, home, size, "2")


def test_snapshot_sweep_heatmap_80x24(snap_compare, scripted_client, fixed_clock, home):
    assert _sweep_picture(snap_compare, scripted_client, fixed_clock, home, (80, 24), "3")


def test_snapshot_sweep_heatmap_held_out_120x40(snap_compare, scripted_client, fixed_clock, home):
    """The held-out side: losses in the theme's loss colour."""
    keys = ("3", "h")
    assert _sweep_picture(snap_compare, scripted_client, fixed_clock, home, (120, 40), *keys)


# --- the pure parts ---------------------------------------------------------------------------


def test_prefill_spans_the_schema_range_in_about_four_steps():
    from oxbot.engine.backtest.sweep import FieldRange  # noqa: PLC0415

    assert prefill(FieldRange("fast", "int", 2, 500), 10) == ("2", "500", "125")
    assert prefill(FieldRange("x", "float", 0, 10, lo_open=True), 3) == ("2.5", "10", "2.5")
    assert prefill(FieldRange("n", "int"), 7) == ("7", "7", "1")  # no range: held fixed


def _result(rows):
    from oxbot.engine.backtest.sweep import SweepResult, SweepRow  # noqa: PLC0415

    return SweepResult(
        strategy="s",
        objective="sharpe",
        mode="grid",
        param_names=["a", "b", "c"],
        ranges={"a": [1, 2], "b": [10, 20], "c": [0, 1]},
        rows=[SweepRow(p, {"sharpe": v}, {"sharpe": None}) for p, v in rows],
        total=8,
    )


def test_a_cell_is_the_best_over_the_other_parameters_and_n_a_differs_from_not_run():
    r = _result(
        [
            ({"a": 1, "b": 10, "c": 0}, 0.5),
            ({"a": 1, "b": 10, "c": 1}, 1.5),
            ({"a": 2, "b": 10, "c": 0}, None),
            ({"a": 2, "b": 10, "c": 1}, -0.5),
            ({"a": 1, "b": 20, "c": 0}, None),
            ({"a": 1, "b": 20, "c": 1}, None),
        ]
    )
    g: HeatGrid = heat_grid(r, "a", "b")
    assert g.xs == [1, 2] and g.ys == [10, 20] and g.others == ["c"]
    assert g.cells[(1, 10)] == 1.5 and g.cells[(2, 10)] == -0.5
    assert (1, 20) in g.cells and g.cells[(1, 20)] is None  # ran, n/a
    assert (2, 20) not in g.cells  # never ran
    assert g.best() == (1, 10)
    held = heat_grid(r, "a", "b", "held_out")
    assert held.values() == [] and held.best() is None


def test_one_parameter_draws_one_row():
    from oxbot.engine.backtest.sweep import SweepResult, SweepRow  # noqa: PLC0415
    from oxbot.tui.widgets.sweep_heatmap import draw, pairs  # noqa: PLC0415

    r = SweepResult(
        strategy="s",
        objective="return",
        mode="grid",
        param_names=["a"],
        ranges={"a": [1, 2, 3]},
        rows=[SweepRow({"a": a}, {"return_pct": v}) for a, v in ((1, -2.5), (2, 4.0))],
        total=3,
    )
    assert pairs(r) == [("a", None)]
    g = heat_grid(r, "a", None)
    assert g.ys == [None] and g.cells == {(1, None): -2.5, (2, None): 4.0}
    pal = dict.fromkeys(("pnl-down", "pnl-flat", "pnl-up", "foreground", "na"), "#808080")
    lines = draw(g, pal, "in-sample return %").plain.splitlines()
    assert lines[0] == "in-sample return % by a"
    assert lines[1].split() == ["a", "→", "1", "2", "3"]
    assert lines[2].split() == ["-2.50", "4.00", "·"]  # 3 never ran
    assert "min -2.50" in lines[4] and "max 4.00" in lines[4]


def test_the_scale_keeps_red_for_losses():
    s = Scale("#ff0000", "#808080", "#00ff00", lo=-1.0, hi=4.0)
    assert s.at(-1.0).r > s.at(-1.0).g and s.at(4.0).g > s.at(4.0).r
    assert s.at(0.1).g > s.at(0.1).r  # a small gain is green, however far from the top
    assert s.at(0.0) == Color.parse("#808080")
    ansi = Scale("ansi_red", "ansi_white", "ansi_green", lo=-1.0, hi=4.0)
    assert ansi.at(-0.2).ansi == 1 and ansi.at(3).ansi == 2  # no blends on 16 colours


def test_the_summary_names_the_sets_whose_run_failed():
    from oxbot.engine.backtest.sweep import SweepResult
    from oxbot.tui.screens.sweep import summary_text

    r = SweepResult(
        strategy="flaky", objective="sharpe", mode="grid", param_names=["n"],
        ranges={"n": [5, 10, 15]}, rows=[], total=3,
        failed={"mine.py:15: KeyError: 'sma_99'": 2},
    )  # fmt: skip
    assert "2 of 3 combinations failed: mine.py:15: KeyError: 'sma_99'" in summary_text(r).plain
