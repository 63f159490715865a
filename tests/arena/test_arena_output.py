"""The leaderboard as printed and exported, on results built directly (the runner's own tests
are test_arena_run.py), the terminal widths it must fit, cancelling, and the CLI's start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from oxbot.app.arena_model import ArenaResult, ContestantResult, EquitySeries

T0 = 1_726_272_000_000
H = 3_600_000


def row(name: str, kind: str, ret: float, **kw: Any) -> ContestantResult:
    cash = Decimal(10000)
    final = cash * (1 + Decimal(str(ret)) / 100)
    base = dict(
        name=name,
        kind=kind,
        label=kind,
        start_cash=cash,
        final_equity=final,
        pnl=final - cash,
        return_pct=ret,
        sharpe=1.23,
        max_drawdown_pct=12.5,
        win_rate_pct=55.0,
        trades=42,
        fees=Decimal("123.456"),
    )
    base.update(kw)
    return ContestantResult(**base)


def result() -> ArenaResult:
    rows = [
        row("a-very-long-contestant-name", "rule", 12.5),
        row(
            "gpt",
            "llm",
            -3.25,
            sharpe=None,
            win_rate_pct=None,
            llm_calls=1234,
            tokens=2_345_678,
            llm_cost=Decimal("1.234567"),
            failures=3,
            calls_saved=50,
            return_per_dollar=-2.63,
        ),
        row("broken", "llm", 0.0, error="every model call failed (9 decision points): timeout"),
        row("buy-hold", "baseline", 100.0, trades=1),
    ]
    ts = [T0 + H * (i + 1) for i in range(50)]
    curves = [
        EquitySeries(r.name, ts, [10000.0 + i * (k + 1) for i in range(50)])
        for k, r in enumerate(rows)
        if r.error is None
    ]
    return ArenaResult(
        "t", "sim seed=1", ["BTC/USDT"], "1h", T0, ts[-1], Decimal(10000), rows, curves, 4, 4
    )


def test_the_table_fits_80_and_120_columns_and_says_what_it_left_out() -> None:
    from oxbot.cli.arena import render_table

    r = result()
    for width in (80, 120):
        text = render_table(r, "return_pct", True, width)
        lines = text.splitlines()
        assert max(len(ln) for ln in lines) <= width, (width, text)
        body = "\n".join(lines[3:])
        assert "a-very-long-con…" in body and "buy-hold (base)" in body
        assert "n/a" in body  # gpt's Sharpe and win rate
        assert "+12.50%" in body and "+1,250.00" in body and "-3.25%" in body
        assert "broken: every model call failed" in text
        # a model that failed some replies is said under the table at any width (adversary
        # F21: the fail column is among those left out at 80-100 columns)
        flat = " ".join(text.split())
        assert "gpt: 3 failed replies held instead of deciding" in flat
        ranked = [ln[3:19].strip() for ln in lines[5:9]]
        assert ranked == ["buy-hold (base)", "a-very-long-con…", "gpt", "broken"]
    narrow = render_table(r, "return_pct", True, 80)
    flat = " ".join(narrow.split())
    assert "(not shown at this width: " in flat and "--out FILE.csv has all" in flat
    wide = render_table(r, "return_pct", True, 120)
    assert "1,234" in wide and "1.2346" in wide  # LLM calls and dollars fit at 120


def test_sorting_a_column_lowest_first_and_na_last() -> None:
    from oxbot.cli.arena import render_table

    text = render_table(result(), "sharpe", True, 120)
    names = [ln[3:19].strip() for ln in text.splitlines()[5:9]]
    assert names[-2:] == ["gpt", "broken"]  # n/a, then the error
    assert "Sharpe▼" in text


def test_exports(tmp_path: Path) -> None:
    from oxbot.app import arena_export

    r = result()
    written = arena_export.write(r, tmp_path / "r.json")
    doc = json.loads(written[0].read_text())
    assert [x["name"] for x in doc["rows"]] == [
        "buy-hold",
        "a-very-long-contestant-name",
        "gpt",
        "broken",
    ]
    assert doc["rows"][2]["sharpe"] is None and doc["rows"][2]["llm_cost"] == "1.234567"
    assert doc["rows"][3]["rank"] is None and doc["rows"][3]["error"].startswith("every")
    assert doc["rows"][1]["pnl"] == "1250.00" and doc["rows"][1]["fees"] == "123.46"
    assert len(doc["curves"]) == 3 and doc["curves"][0]["ts"][0] == T0 + H
    csv_text = arena_export.to_csv(r)
    assert csv_text.splitlines()[0].startswith("rank,name,kind,label,return_pct,pnl")
    assert ",,," in csv_text.splitlines()[3] or csv_text.splitlines()[3].count(",,") >= 1
    md_paths = arena_export.write(r, tmp_path / "r.md")
    assert [p.name for p in md_paths] == ["r.md", "r.svg"]
    md = md_paths[0].read_text()
    assert "| 3 | gpt | llm | llm | -3.25 |" in md and " n/a |" in md
    assert "every model call failed" in md  # the error column, as there is an error
    svg = md_paths[1].read_text()
    assert svg.count("<polyline") == 3 and 'class="equity baseline"' in svg


def test_cancelling_stops_the_contestants_left(tmp_path: Path) -> None:
    from oxbot.app.arena import ArenaOptions, load_arena, run_arena

    example = Path(__file__).resolve().parents[2] / "examples" / "arena.toml"
    cancel = threading.Event()

    def progress(r: ArenaResult) -> None:
        if r.done >= 2:  # the baseline and the first contestant
            cancel.set()

    out = run_arena(
        load_arena(example), progress=progress, options=ArenaOptions(workers=1, cancel=cancel)
    )
    errors = [x.error for x in out.rows]
    assert errors[0] is None and errors[1:4] == ["cancelled"] * 3 and errors[4] is None
    assert out.done == 5


def test_oxbot_help_does_not_import_the_arena() -> None:
    probe = (
        "import sys, oxbot.cli.main as c; p = c.build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('oxbot.app.arena')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
    helptext = subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "arena" in helptext.stdout


def test_the_ranking_column_is_always_on_screen() -> None:
    """adv15b F15: at 80-100 columns --sort return_per_dollar ranked by a column left out for
    width. Now it is kept (another is left out instead) and the table still fits."""
    from oxbot.cli.arena import render_table

    for width in (60, 80, 100):
        text = render_table(result(), "return_per_dollar", True, width)
        lines = text.splitlines()
        assert "ret/$▼" in lines[3], (width, text)
        assert max(len(ln) for ln in lines) <= width, (width, text)
        assert "-2.63" in text  # gpt's return per dollar
