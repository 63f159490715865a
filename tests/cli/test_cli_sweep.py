"""`oxbot backtest --sweep/--search` through a real `oxbot` process on generated candles: the
table ranked by the objective beside its held-out column, the exports, skipped combinations,
bad specs, a seeded search, walk-forward folds and the progress on stderr (a pipe, and a
terminal through a pty).

What the tests rely on: sma_cross's schema (engine/strategies/rules.py: fast 2..500, slow
3..2000, "fast (F) must be shorter than slow (S)"); Sharpe is None (n/a) below 10 closed trades
(engine/backtest/metrics.py MIN_TRADES); the table's layout is cli/sweep_report.py's.
"""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GRID = ["--sweep", "fast=4:24:4", "--sweep", "slow=10:80:10"]


def _candles(path: Path, n: int = 1500, seed: int = 11) -> Path:
    """A seeded random walk with trending stretches: SMA crosses happen, so some parameter
    sets trade often (a Sharpe) and long ones rarely (n/a)."""
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


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _candles(tmp_path_factory.mktemp("sweep") / "gen_BTC-USDT_1h.csv")


def oxbot(
    tmp: Path, *argv: str, stderr: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXBOT_")}
    env["OXBOT_HOME"] = str(tmp)
    return subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "backtest", *argv],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        timeout=240,
    )


def _table(stdout: str) -> list[list[str]]:
    """The table's body rows: cells split on whitespace, the two '│' separators dropped."""
    rows = []
    for line in stdout.splitlines():
        cells = line.replace("│", " ").split()
        if cells and cells[0].isdigit() and "│" in line:
            rows.append(cells)
    return rows


def test_a_grid_ranks_by_the_objective_with_the_held_out_beside_it(
    data: Path, tmp_path: Path
) -> None:
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    runs = [
        oxbot(
            tmp_path,
            "--strategy",
            "sma_cross",
            "--data",
            str(data),
            *GRID,
            "--jobs",
            "2",
            "--out",
            str(out),
            "--top",
            "50",
        )
        for out in (out_json, out_csv)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
    text = runs[0].stdout
    assert "in-sample" in text and "held-out" in text and "ranked by in-sample sharpe" in text
    assert "held out (never seen by the search)" in text and "(30%)" in text
    # 6 fast x 8 slow = 48; fast >= slow: 12..24 with slow 10, and 20, 24 with 20 → 6 skipped
    assert "6 of 48 combinations skipped: fast must be shorter than slow" in text
    result = json.loads(out_json.read_text())
    from oxbot.engine.backtest.sweep import SweepResult

    assert SweepResult.from_json(result).to_json() == result  # the cockpit reads it back
    rows = result["rows"]
    assert len(rows) == 42 and result["total"] == 48
    assert result["skipped"] == {"fast must be shorter than slow": 6}
    sharpes = [r["in_sample"]["sharpe"] for r in rows]
    shown = [s for s in sharpes if s is not None]
    assert shown and None in sharpes  # the data gives both, so the order below means something
    assert sharpes == shown + [None] * (len(sharpes) - len(shown))  # n/a last, never first
    assert shown == sorted(shown, reverse=True)
    assert all(r["held_out"] is not None and "sharpe" in r["held_out"] for r in rows)
    # the held-out window is the last 30 %, after the search window
    assert all(r["held_out"]["first_ts"] > r["in_sample"]["last_ts"] for r in rows)
    assert rows[0]["held_out"]["first_ts"] == result["split_ts"]
    # the table, the JSON and the CSV agree row by row
    table = _table(text)
    with out_csv.open(newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert len(table) == len(exported) == len(rows)
    for cells, row, line in zip(table, rows, exported, strict=True):
        assert [int(cells[1]), int(cells[2])] == [row["params"]["fast"], row["params"]["slow"]]
        assert int(line["fast"]) == row["params"]["fast"]
        assert int(line["slow"]) == row["params"]["slow"]
        s = row["in_sample"]["sharpe"]
        assert cells[3] == ("n/a" if s is None else f"{s:,.2f}")
        assert line["in_sample_sharpe"] == ("" if s is None else str(s))
        h = row["held_out"]["return_pct"]
        assert cells[8] == f"{h:,.2f}" and float(line["held_out_return_pct"]) == h


def test_bad_sweep_specs_exit_2_with_the_fix(data: Path, tmp_path: Path) -> None:
    cases = [
        (["--sweep", "fast=1:30:5"], "fast=1:30:5: 1 is outside fast's range 2..500"),
        (["--sweep", "fsat=5:30:5"], "no parameter 'fsat'; its parameters: fast (int, 2..500)"),
        (["--sweep", "fast=5:30"], "from:to:step"),
        (["--sweep", "fast=5:30:5", "--param", "fast=10"], "both swept (--sweep) and fixed"),
        (["--holdout", "30%"], "--holdout only applies to a sweep"),
        (["--sweep", "fast=5:30:5", "--holdout", "95%"], "from 1 to 90"),
        (["--sweep", "fast=5:30:5", "--objective", "luck"], "choose one of return, sharpe"),
        (["--sweep", "slow=600:900:100"], "no parameter set can run"),
    ]
    for extra, said in cases:
        run = oxbot(tmp_path, "--strategy", "sma_cross", "--data", str(data), *extra)
        assert run.returncode == 2, (extra, run.stderr)
        assert said in run.stderr, (extra, run.stderr)
        assert "Traceback" not in run.stderr and not run.stdout


@pytest.mark.slow
def test_a_seeded_search_gives_the_same_trials_twice(data: Path, tmp_path: Path) -> None:
    argv = [
        "--strategy",
        "sma_cross",
        "--data",
        str(data),
        "--search",
        "20",
        "--seed",
        "7",
        "--sweep",
        "fast=2:30",
        "--sweep",
        "slow=10:120",
        "--json",
    ]
    one = oxbot(tmp_path, *argv, "--jobs", "1")
    two = oxbot(tmp_path, *argv, "--jobs", "2")
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["mode"] == "search" and a["seed"] == 7 and a["total"] == 20
    assert a["rows"][0]["params"] == b["rows"][0]["params"]
    assert [r["params"] for r in a["rows"]] == [r["params"] for r in b["rows"]]
    assert len(a["rows"]) + sum(a["skipped"].values()) == 20
    for r in a["rows"]:
        assert 2 <= r["params"]["fast"] <= 30 and 10 <= r["params"]["slow"] <= 120
        assert r["held_out"] is not None


@pytest.mark.slow
def test_walk_forward_scores_each_fold_on_the_window_after_it(data: Path, tmp_path: Path) -> None:
    run = oxbot(
        tmp_path,
        "--strategy",
        "sma_cross",
        "--data",
        str(data),
        *GRID,
        "--walk-forward",
        "3",
        "--objective",
        "return",
        "--jobs",
        "2",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    from oxbot.engine.backtest.sweep import SweepResult

    assert SweepResult.from_json(result).to_json() == result
    folds = result["folds"]
    assert len(folds) == 3 and result["holdout"] is None
    for k, f in enumerate(folds):
        assert f["train"]["stop"] == f["test"]["start"]
        assert f["test_ts"][0] > f["train_ts"][1]  # the held-out never precedes its train window
        best = f["best"]
        assert best["fold"] == k and best["held_out"]["first_ts"] == f["test_ts"][0]
        assert best["in_sample"]["first_ts"] == f["train_ts"][0]
        if k:
            assert folds[k - 1]["test"]["stop"] <= f["test"]["start"]  # no overlap
    assert folds[-1]["test"]["stop"] == 1500
    growth = 1.0
    for f in folds:
        growth *= 1 + f["best"]["held_out"]["return_pct"] / 100
    assert result["combined"]["return_pct"] == pytest.approx((growth - 1) * 100, abs=1e-3)
    table = oxbot(
        tmp_path,
        "--strategy",
        "sma_cross",
        "--data",
        str(data),
        *GRID,
        "--walk-forward",
        "3",
        "--jobs",
        "1",
    )
    assert "combined held-out (3 folds chained)" in table.stdout


def test_progress_without_a_terminal_is_a_line_per_tenth(data: Path, tmp_path: Path) -> None:
    run = oxbot(tmp_path, "--strategy", "sma_cross", "--data", str(data), *GRID, "--jobs", "1")
    assert run.returncode == 0, run.stderr
    lines = [x for x in run.stderr.splitlines() if x.startswith("sweep: ")]
    assert [int(x.split()[1]) for x in lines] == list(range(10, 101, 10)), run.stderr
    assert lines[-1].startswith("sweep: 100 % (42/42 runs") and "\r" not in run.stderr


def test_progress_on_a_terminal_is_a_bar_with_an_eta(data: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXBOT_")}
    env["OXBOT_HOME"] = str(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oxbot.cli.main",
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            str(data),
            *GRID,
            "--jobs",
            "2",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal (Linux)
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, seen
    shown = seen.decode()
    assert "\r" in shown and "ETA" in shown and "42/42" in shown and "█" in shown
    assert "sweep: 10 %" not in shown  # the per-tenth lines are for logs only
    assert b"held-out" in stdout


def test_help_and_a_grid_never_load_optuna(tmp_path: Path, data: Path) -> None:
    probe = (
        "import sys, oxbot.cli.main as c\n"
        "try:\n    c.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('optuna' in sys.modules)"
    )
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    for argv in (
        ["--help"],
        [
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            str(data),
            "--sweep",
            "fast=5,10",
            "--sweep",
            "slow=40",
            "--jobs",
            "1",
        ],
    ):
        out = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


def test_a_user_strategy_file_sweeps_in_the_worker_processes(data: Path, tmp_path: Path) -> None:
    """The workers are spawned fresh: each loads the user's strategy files itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXBOT_")}
    env["OXBOT_HOME"] = str(tmp_path)
    made = subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "strategies", "new", "my_trend"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    run = oxbot(
        tmp_path,
        "--strategy",
        "my_trend",
        "--data",
        str(data),
        "--sweep",
        "ema=10:40:10",
        "--jobs",
        "2",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["rows"]
    assert sorted(r["params"]["ema"] for r in rows) == [10, 20, 30, 40]
    assert all(r["in_sample"]["bars"] > 0 and r["held_out"] is not None for r in rows)


def test_an_unwritable_out_is_refused_before_the_sweep_runs(tmp_path: Path, data: Path) -> None:
    """--out into a place that cannot be written (here: a file under a plain file) stops at
    once, before any backtest: the results are never computed and lost."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    r = oxbot(tmp_path, "--strategy", "sma_cross", "--data", str(data), "--jobs", "1", *GRID,
              "--out", str(blocker / "x.csv"))  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "--out" in r.stderr or "cannot write" in r.stderr or "does not exist" in r.stderr
    assert "Traceback" not in r.stderr and "sweep" not in r.stdout


def test_more_jobs_than_cores_are_capped_and_said(tmp_path: Path, data: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    r = oxbot(tmp_path, "--strategy", "sma_cross", "--data", str(data), "--sweep", "fast=4:8:4",
              "--sweep", "slow=20:30:10", "--jobs", str(cores + 6), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"--jobs {cores + 6} is more than the {cores} core(s) here; using {cores}" in r.stderr
    assert len(json.loads(r.stdout)["rows"]) == 4


def test_a_sweep_that_cannot_rank_says_so(tmp_path: Path) -> None:
    """400 candles: every long-window set closes fewer than 10 trades, so Sharpe is n/a for all
    of them; the table says the order is arbitrary instead of crowning row 1. A profit factor of
    a handful of trades is n/a for ranking too (as Sharpe is)."""
    short = _candles(tmp_path / "s_BTC-USDT_1h.csv", n=400)
    base = ["--strategy", "sma_cross", "--data", str(short), "--jobs", "1"]
    r = oxbot(tmp_path, *base, "--sweep", "fast=20:40:20", "--sweep", "slow=100:150:50")
    assert r.returncode == 0, r.stderr
    assert "nothing could be ranked: sharpe is n/a for every set" in r.stdout
    r = oxbot(tmp_path, *base, "--sweep", "fast=20:40:20", "--sweep", "slow=100:150:50",
              "--objective", "profit_factor", "--json")  # fmt: skip
    rows = json.loads(r.stdout)["rows"]
    assert all(row["in_sample"]["trades"] < 10 for row in rows)
    r = oxbot(tmp_path, *base, "--sweep", "fast=20:40:20", "--sweep", "slow=100:150:50",
              "--objective", "profit_factor")  # fmt: skip
    assert "nothing could be ranked: profit_factor is n/a" in r.stdout
