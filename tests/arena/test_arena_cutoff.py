"""An LLM contestant whose model's knowledge cut-off (engine/llm/cutoffs.py) lies after the
arena's first candle may have seen the prices it is ranked on: the board says so under the
table, in the Markdown report and the JSON (found by an adversarial tester: gpt-4.1 ranked first
on January 2024 candles with no word). The model is never called here (`--cache-only`, a local
server address that nothing listens on: the contestant errors, the note still stands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARENA = """
[arena]
title = "cut-off"
capital = 10000
market = "sim"
since = "{since}"
[arena.sim]
seed = 3
symbols = ["BTC/USDT"]
timeframe = "1h"
bars = 200

[[contestant]]
name = "sma"
strategy = "sma_cross"

[[contestant]]
name = "mini"
strategy = "llm"
provider = "openai_compatible"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4o-mini"
"""

WARNING = (
    "mini: WARNING: model gpt-4o-mini: knowledge cut-off 2023-10, after the backtest starts "
    "(2023-06-01): the model may have seen these prices"
)


def run(home: Path, cli: Any, since: str) -> tuple[str, dict[str, Any], str]:
    path = home / f"a-{since}.toml"
    path.write_text(ARENA.format(since=since), encoding="utf-8")
    report, board = home / f"r-{since}.md", home / f"r-{since}.json"
    code, out, err = cli(str(path), "--cache-only", "--out", str(report))
    assert code == 0, err
    code, _, err = cli(str(path), "--cache-only", "--out", str(board))
    assert code == 0, err
    return out, json.loads(board.read_text()), report.read_text()


def test_a_model_that_may_have_seen_the_prices_is_said(home: Path, cli: Any) -> None:
    out, board, report = run(home, cli, "2023-06-01")
    assert WARNING in out
    assert board["notes"] == [WARNING]
    assert f"**{WARNING}**" in report


def test_no_warning_after_the_cut_off(home: Path, cli: Any) -> None:
    out, board, report = run(home, cli, "2024-06-01")
    assert "WARNING" not in out and "WARNING" not in report
    assert board["notes"] == []
