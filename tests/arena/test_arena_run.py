"""Arenas run through the real path: `oxbot arena` (in process: the real parser and error
mapping) or app/arena.py ``run_arena``; rule contestants through the bot replay, LLM contestants
through the live prompt builder and LLMStrategy, httpx to the fake OpenAI-compatible and
Anthropic servers of tests/support/fake_llm_server.py (their requests counted there), the reply
cache under OXBOT_HOME, the risk manager and the paper broker.

The market: the first 400 candles of the shared 1h BTC/USDT file (since/until in the arena
file; the data stays in ../shared)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer

pytestmark = pytest.mark.slow

HOUR = 3_600_000
FIRST = 1_726_272_000_000  # the shared file's first candle (2024-09-14 00:00 UTC)


def arena_text(csv: Path, openai_url: str, anthropic_url: str, extra: str = "") -> str:
    return f"""
[arena]
title = "Four on BTC"
capital = 10000
market = "csv"
since = "2024-09-14"
until = "2024-09-30T16:00"   # 400 candles
fee_rate = 0.001
slippage_bps = 1
[arena.csv]
"BTC/USDT" = "{csv}"
[arena.risk]
max_position_pct = 30
max_exposure_pct = 60

[[contestant]]
name = "sma-fast"
strategy = "sma_cross"
params = {{ fast = 10, slow = 30 }}

[[contestant]]
name = "rsi"
strategy = "rsi_reversion"

[[contestant]]
name = "gpt-mini"
strategy = "llm"
provider = "openai_compatible"
base_url = "{openai_url}"
model = "gpt-4o-mini"
temperature = 0
memory = 3
cadence_s = 14400

[[contestant]]
name = "claude"
strategy = "llm"
provider = "anthropic"
base_url = "{anthropic_url}"
model = "claude-haiku-4-5"
temperature = 0
anthropic_prefill = false
cadence_s = 21600
{extra}"""


def table_of(stdout: str) -> str:
    """The leaderboard block of `oxbot arena`'s output (up to the chart)."""
    return stdout.split("\n\n")[1]


def test_four_contestants_and_the_baseline_then_a_free_identical_rerun(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    openai_server: FakeLLMServer,
    anthropic_server: FakeLLMServer,
    arena_file: Any,
    shared_1h: Path,
    cli: Any,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # every column of the table
    # The Anthropic key from the environment (storage/secrets.py: OXBOT_<PROVIDER>_API_KEY);
    # the fake accepts any key (api_key None) but refuses a request without x-api-key.
    monkeypatch.setenv("OXBOT_ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789")
    path = arena_file(
        home / "four.toml", arena_text(shared_1h, openai_server.url, anthropic_server.url)
    )
    first_json, chart = home / "first.json", home / "equity.svg"
    code, out, err = cli(str(path), "--yes", "--out", str(first_json), "--chart", str(chart))
    assert code == 0, err
    # The estimate came first, per LLM contestant, then the total.
    assert re.search(r"gpt-mini: LLM openai_compatible gpt-4o-mini: [\d,]+ model calls", err)
    assert re.search(r"claude: LLM anthropic claude-haiku-4-5: [\d,]+ model calls", err)
    assert "LLM estimate over all contestants: ~$" in err
    doc = json.loads(first_json.read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert list(rows) == [r["name"] for r in doc["rows"]]
    assert set(rows) == {"sma-fast", "rsi", "gpt-mini", "claude", "buy-hold"}
    assert all(r["error"] is None for r in rows.values()), rows
    assert [r["rank"] for r in doc["rows"]] == [1, 2, 3, 4, 5]
    returns = [r["return_pct"] for r in doc["rows"]]
    assert returns == sorted(returns, reverse=True)  # ranked by return
    assert rows["buy-hold"]["kind"] == "baseline" and rows["buy-hold"]["trades"] == 1
    # 400 candles: one decision every 4 (gpt) and 6 (claude) candles after the warm-up,
    # each one model call (no repair: every reply parses).
    gpt, claude = rows["gpt-mini"], rows["claude"]
    assert gpt["llm_calls"] == len(openai_server.requests) == 99
    assert claude["llm_calls"] == len(anthropic_server.requests) == 66
    assert gpt["failures"] == claude["failures"] == 0
    assert gpt["tokens"] > 0 and Decimal(gpt["llm_cost"]) > 0 and Decimal(claude["llm_cost"]) > 0
    assert gpt["trades"] > 5 and claude["trades"] > 5  # the replies trade
    for r in (gpt, claude):
        assert r["return_per_dollar"] == pytest.approx(
            r["return_pct"] / float(r["llm_cost"]), rel=1e-3
        )
    assert rows["sma-fast"]["llm_calls"] == 0 and rows["sma-fast"]["return_per_dollar"] is None
    # Equity curves on the shared decision times, one per contestant and the baseline.
    curves = {c["name"]: c for c in doc["curves"]}
    assert set(curves) == set(rows)
    times = curves["buy-hold"]["ts"]
    assert len(times) == 400 and times[0] == FIRST + HOUR
    assert all(c["ts"] == times for c in curves.values())
    # The terminal: the table and the chart's legend; the SVG: a line each, the baseline dashed.
    table = table_of(out)
    assert "not shown at this width" not in table
    for name in ("sma-fast", "rsi", "gpt-mini", "claude", "buy-hold (base)"):
        assert name in table
    assert "lines: " in out and "buy-hold" in out.split("lines: ")[1]
    assert "LLM: 165 model calls now" in out
    svg = chart.read_text()
    assert svg.count('class="equity') == 5 and svg.count('class="equity baseline"') == 1

    # The rerun with --cache-only: every reply from the cache, no model called, the same
    # table (every column: the terminal is 200 wide) and the same curves (the same SVG), and
    # the Markdown report with its chart beside it.
    report, chart2 = home / "report.md", home / "equity2.svg"
    code, out2, err = cli(str(path), "--cache-only", "--out", str(report), "--chart", str(chart2))
    assert code == 0, err
    assert len(openai_server.requests) == 99 and len(anthropic_server.requests) == 66
    assert "LLM: 0 model calls now" in out2
    assert table_of(out2) == table
    assert chart2.read_text() == svg == (home / "report.svg").read_text()
    md = report.read_text()
    assert md.startswith("# Four on BTC\n")
    assert "- Period: 2024-09-14 00:00 to 2024-09-30 16:00 UTC" in md
    assert "- Market: csv binance_BTC-USDT_1h.csv, BTC/USDT, 1h candles" in md
    assert "![equity of every contestant, the baseline dashed](report.svg)" in md
    table_lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table_lines) == 6  # the heading and five rows, in the JSON's order
    for line, row in zip(table_lines[1:], doc["rows"], strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:2] == [str(row["rank"]), row["name"]]
        assert cells[5].replace(",", "") == row["pnl"]


SHORT = """
[arena]
title = "short"
capital = 5000
market = "csv"
since = "2024-09-20"
until = "2024-10-11"   # 504 candles
fee_rate = 0.002
slippage_bps = 3
[arena.csv]
"BTC/USDT" = "{csv}"

[[contestant]]
name = "sma"
strategy = "sma_cross"
params = {{ fast = 8, slow = 21 }}

[[contestant]]
name = "keyless"
strategy = "llm"
provider = "openai_compatible"
base_url = "{locked}"
model = "gpt-4o-mini"
cadence_s = 86400

[[contestant]]
name = "uncached"
strategy = "llm"
provider = "openai_compatible"
base_url = "{open}"
model = "gpt-4o-mini"
cadence_s = 43200

[[contestant]]
name = "ema"
strategy = "ema_atr_trend"
"""


def test_failing_contestants_leave_the_others_ranked_and_the_baseline_is_backtests(
    home: Path, openai_server: FakeLLMServer, arena_file: Any, shared_1h: Path
) -> None:
    """A model that refuses every call (a server that wants a key, none stored: HTTP 401 from
    the fake, [OA-errors]) and a model with no stored reply under cache-only each get an error;
    the rule contestants and the baseline are ranked, with the numbers a bot backtest of the
    same configuration gives, and the baseline is app/backtests.py ``baseline``."""
    from oxbot.app import backtests
    from oxbot.app.arena import ArenaOptions, load_arena, load_frames, run_arena
    from oxbot.engine.backtest.export import money

    locked = FakeLLMServer("openai", api_key="sk-the-right-one").start()
    try:
        path = arena_file(
            home / "short.toml",
            SHORT.format(csv=shared_1h, locked=locked.url, open=openai_server.url),
        )
        spec = load_arena(path)
        seen: list[int] = []
        result = run_arena(
            spec, progress=lambda r: seen.append(r.done), options=ArenaOptions(paid=True)
        )
        refused = len(locked.refused)
    finally:
        locked.close()
    rows = {r.name: r for r in result.rows}
    assert [r.name for r in result.rows] == ["sma", "keyless", "uncached", "ema", "buy-hold"]
    assert result.done == result.total == 5 and seen[-1] == 5 and result.fraction == 1.0
    assert rows["keyless"].error is not None
    assert rows["keyless"].error.startswith("every model call failed (21 decision points)")
    assert refused == 21 and not locked.requests  # each call was asked, and refused
    assert rows["uncached"].error is None  # paid=True: it called the open server
    assert rows["sma"].error is None and rows["ema"].error is None
    ranked = result.sorted_rows("return_pct")
    assert ranked[-1].name == "keyless"  # errored: last, whatever its figures
    assert [r.name for r in ranked[:-1]] == sorted(
        (n for n in rows if n != "keyless"), key=lambda n: -rows[n].return_pct
    )

    # Under cache-only a contestant whose replies are not stored says which are missing.
    calls = len(openai_server.requests)
    fresh = path.read_text().replace('name = "uncached"', 'name = "uncached"\ntemperature = 0.7')
    spec2 = load_arena(arena_file(home / "short2.toml", fresh))
    cached_only = run_arena(spec2, options=ArenaOptions(cache_only=True))
    assert len(openai_server.requests) == calls
    r2 = {r.name: r for r in cached_only.rows}
    assert r2["uncached"].error is not None
    assert "decision points of bot uncached have no stored reply" in r2["uncached"].error
    assert r2["sma"] == rows["sma"] and r2["buy-hold"] == rows["buy-hold"]

    # Each rule contestant: what a bot backtest of its configuration gives on these candles.
    frames = load_frames(spec)
    for c in spec.contestants:
        if c.kind != "rule":
            continue
        alone = backtests.run_bot(
            backtests.BotBacktest(c.config, {}, None, spec.since_ms, spec.until_ms), frames
        )
        assert rows[c.name].final_equity == alone.result.final_equity
        assert rows[c.name].trades == alone.metrics["trades"]
        held = alone.metrics["buy_hold_final_equity"]
    # The baseline: app/backtests.py baseline on the same candles, capital, fee and slippage.
    curve = next(c for c in result.curves if c.name == "buy-hold")
    total, _parts = backtests.baseline(
        frames,
        spec.symbols,
        Decimal(5000),
        Decimal("0.002"),
        Decimal(3),
        curve.ts[0] - HOUR,
        curve.ts[-1] - HOUR,
    )
    base = rows["buy-hold"]
    assert base.final_equity == total and base.pnl == total - 5000
    assert money(base.final_equity) == held  # and what the bot backtest reports
    assert curve.equity[-1] == float(total)
    assert base.fees > 0 and base.trades == 1 and base.sharpe is not None
    assert curve.ts[0] == 1_726_790_400_000 + HOUR and len(curve.ts) == 504


def test_a_sim_arena_with_a_seed_is_the_same_twice(home: Path, cli: Any, arena_file: Any) -> None:
    from oxbot.app.arena import load_arena, run_arena

    example = Path(__file__).resolve().parents[2] / "examples" / "arena.toml"
    first = run_arena(load_arena(example))
    second = run_arena(load_arena(example))
    assert first.rows == second.rows and first.curves == second.curves
    assert [r.name for r in first.rows] == [
        "sma-10-30",
        "sma-20-50",
        "rsi-14",
        "ema-atr",
        "buy-hold",
    ]
    assert all(r.error is None for r in first.rows) and sum(r.trades for r in first.rows) > 20
    other = run_arena(
        load_arena(arena_file(home / "s.toml", example.read_text().replace("seed = 7", "seed = 8")))
    )
    assert [r.final_equity for r in other.rows] != [r.final_equity for r in first.rows]
    # The command line, as the README shows it, twice: the same output.
    code, out, err = cli(str(example))
    assert code == 0, err
    code2, out2, _ = cli(str(example))
    assert code2 == 0 and out2 == out
    assert "sma-10-30" in out and "buy-hold (base)" in out and "lines: " in out


def test_the_estimate_of_all_llm_contestants_guards_the_spend(
    home: Path,
    openai_server: FakeLLMServer,
    arena_file: Any,
    shared_1h: Path,
    cli: Any,
) -> None:
    """Before any call: each LLM contestant's estimate and their total; --max-cost below the
    total refuses (exit 2, nothing called); off a terminal without --yes or --max-cost the paid
    models answer from the (empty) cache: those contestants say what is missing, the rule one
    ranks."""
    text = SHORT.format(csv=shared_1h, locked=openai_server.url, open=openai_server.url)
    text = text.replace('until = "2024-10-11"', 'until = "2024-09-25"')  # 120 candles
    path = arena_file(home / "cost.toml", text)
    code, out, err = cli(str(path), "--max-cost", "0.000001")
    assert code == 2 and out == ""
    ests = [
        Decimal(m)
        for m in re.findall(r"^(?:keyless|uncached): LLM .*~\$([\d.]+)", err, re.MULTILINE)
    ]
    assert len(ests) == 2 and all(e > 0 for e in ests)
    total = re.search(r"LLM estimate over all contestants: ~\$([\d.]+)", err)
    assert total is not None and Decimal(total.group(1)) == pytest.approx(sum(ests), abs=2e-4)
    assert f"the estimate ${total.group(1)} is above --max-cost 0.000001" in err
    assert openai_server.requests == []

    code, out, err = cli(str(path))
    assert code == 0, err
    assert "paid models answer from the reply cache only" in err
    assert openai_server.requests == []
    assert "keyless: " in out and "have no stored reply" in out
    table = out.split("\n\n")[1]
    assert re.search(r"^ ?\d+ sma\s", table, re.MULTILINE)  # ranked
    assert re.search(r"^ +uncached +error", table, re.MULTILINE)  # not ranked, said below

    code, out, err = cli(str(path), "--max-cost", "5")
    assert code == 0, err
    assert len(openai_server.requests) > 0 and "could not run" not in out
