"""`oxbot backtest --bot NAME` through the real parser and error mapping (the ``cli`` fixture of
tests/backtest/conftest.py): the report per symbol and in total with the baseline, --json, the
candle cache, and each error the brief lists (unknown bot, llm, missing candles, no overlap).

The database is the one OXBOT_DB names (storage/paths.py ``default_db_path``); the candle cache
is under OXBOT_HOME (storage/paths.py ``data_dir``)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oxbot.engine.models import BotConfig, BotStatus, RiskLimits
from oxbot.storage.store import Store

SYMS = ("BTC/USDT", "ETH/USDT")


def store_bots(db: Path, *configs: BotConfig) -> None:
    async def go() -> None:
        store = await Store.open(db)
        for c in configs:
            await store.save_bot(c, BotStatus.STOPPED)
        await store.close()

    asyncio.run(go())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "bots.db"))
    limits = RiskLimits(max_position_pct=Decimal(40), max_exposure_pct=Decimal(60))
    store_bots(
        tmp_path / "bots.db",
        BotConfig(
            name="duo",
            symbols=SYMS,
            timeframe="1h",
            params={"fast": 5, "slow": 20},
            capital=Decimal(5000),
            risk=limits,
        ),
        BotConfig(name="thinker", strategy="llm", params={"provider": "ollama"}),
    )
    return tmp_path


def csvs(bt: Any, tmp: Path, n: int = 600, shift: int = 0) -> list[str]:
    out = []
    for seed, sym in enumerate(SYMS, start=3):
        frame = bt.generated_candles(n, seed=seed)
        frame["ts"] += shift * 3_600_000 * (seed - 3)
        path = bt.write_csv(tmp / f"{sym.replace('/', '-')}.csv", frame)
        out += ["--csv", f"{sym}={path}"]
    return out


def test_json_per_symbol_total_and_baseline(cli, home, bt) -> None:
    code, out, err = cli("--bot", "duo", *csvs(bt, home), "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["bot"] == "duo" and m["symbols"] == list(SYMS)
    assert m["start_cash"] == "5000.00"  # the bot's capital
    per = {r["symbol"]: r for r in m["per_symbol"]}
    assert set(per) == set(SYMS)
    assert sum(r["trades"] for r in per.values()) == m["trades"] > 0
    fees = sum(Decimal(r["fees"]) for r in per.values())
    assert abs(fees - Decimal(m["fees_paid"])) <= Decimal("0.02")
    assert Decimal(m["buy_hold_final_equity"]) > 0
    assert m["limits"]["max_position_pct"] == "40"


def test_cash_overrides_the_capital_and_text_report(cli, home, bt) -> None:
    code, out, err = cli("--bot", "duo", *csvs(bt, home), "--cash", "1000")
    assert code == 0, err
    assert "bot duo: sma_cross fast=5 slow=20 on BTC/USDT, ETH/USDT" in out
    assert "start cash 1,000.00 shared by 2 symbol(s)" in out
    for sym in (*SYMS, "total"):
        assert any(line.strip().startswith(sym) for line in out.splitlines()), sym
    assert "buy & hold: the start cash split equally" in out


def test_candles_from_the_cache(cli, home, bt) -> None:
    from oxbot.app.backtests import candle_cache

    for seed, sym in enumerate(SYMS, start=3):
        path = candle_cache("sim", sym, "1h")
        path.parent.mkdir(parents=True, exist_ok=True)
        bt.write_csv(path, bt.generated_candles(400, seed=seed))
    code, out, err = cli("--bot", "duo", "--json")
    assert code == 0, err
    assert json.loads(out)["bars"] > 0


def test_unknown_bot_lists_the_names(cli, home) -> None:
    code, _out, err = cli("--bot", "nobody")
    assert code == 2
    assert "no bot named 'nobody'" in err and "duo, thinker" in err


def test_llm_bot_cache_only_says_what_is_missing(cli, home, bt) -> None:
    # (LLM bots are backtested since issue 15: tests/backtest/test_backtest_llm.py)
    frame = bt.generated_candles(30, step_ms=60_000)  # thinker: BTC/USDT 1m, ollama
    path = bt.write_csv(home / "btc_1m.csv", frame)
    code, _out, err = cli("--bot", "thinker", "--csv", f"BTC/USDT={path}", "--cache-only")
    assert code == 2
    assert "29 of 29 decision points of bot thinker have no stored reply" in err


def test_llm_flags_are_for_llm_bots(cli, home, bt) -> None:
    code, _out, err = cli("--bot", "duo", *csvs(bt, home), "--cache-only")
    assert code == 2
    assert "--cache-only: only for an LLM bot or --strategy llm (bot duo runs sma_cross)" in err


def test_missing_candles_name_the_symbol_and_the_fix(cli, home, bt) -> None:
    given = csvs(bt, home)[:2]  # BTC only
    code, _out, err = cli("--bot", "duo", *given)
    assert code == 2
    assert "no 1h candles for ETH/USDT of bot duo" in err
    assert "--csv ETH/USDT=FILE.csv" in err


def test_download_hint_for_an_exchange_bot(home) -> None:
    from oxbot.app.backtests import candle_cache, download_hint

    hint = download_hint("binance", "ETH/USDT", "1h")
    assert "oxbot data download --exchange binance --symbol ETH/USDT --timeframe 1h" in hint
    assert str(candle_cache("binance", "ETH/USDT", "1h")) in hint
    assert candle_cache("binance", "ETH/USDT", "1h").name == "binance_ETH-USDT_1h.csv"


def test_ranges_that_do_not_overlap(cli, home, bt) -> None:
    code, _out, err = cli("--bot", "duo", *csvs(bt, home, n=300, shift=400))
    assert code == 2
    assert "do not overlap" in err


def test_single_strategy_flags_are_refused_with_bot(cli, home, bt) -> None:
    code, _out, err = cli("--bot", "duo", "--strategy", "sma_cross")
    assert code == 2
    assert "drop --strategy" in err


def test_without_bot_or_strategy(cli) -> None:
    code, _out, err = cli("--data", "x.csv")
    assert code == 2
    assert "give --strategy NAME" in err


def test_fee_and_slippage_override_the_bots(cli, home, bt) -> None:
    code, out, err = cli("--bot", "duo", *csvs(bt, home), "--json")
    assert code == 0, err
    stored = json.loads(out)
    assert stored["fee_rate"] == "0.001" and stored["slippage_bps"] == "0"
    code, out, err = cli(
        "--bot", "duo", *csvs(bt, home), "--fee", "0.002", "--slippage-bps", "10", "--json"
    )
    assert code == 0, err
    m = json.loads(out)
    assert m["fee_rate"] == "0.002" and m["slippage_bps"] == "10"
    assert Decimal(m["fees_paid"]) > Decimal(stored["fees_paid"])


def test_since_is_the_first_candle_traded(cli, home, bt) -> None:
    paths = csvs(bt, home)
    code, out, err = cli("--bot", "duo", *paths, "--json")
    whole = json.loads(out)
    # 2023-11-20: candles before it only warm the indicators up
    code, out, err = cli("--bot", "duo", *paths, "--since", "2023-11-20", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["first_ts"] >= 1_700_438_400_000 + 3_600_000  # the first close on or after it
    assert m["bars"] < whole["bars"]


def test_a_sweep_of_the_bot_as_configured(cli, home, bt) -> None:
    """`--bot NAME --sweep`: the bot's other params, symbols, shared cash and limits stay as
    stored; every row has its held-out result; a row's in-sample figures are those of a plain
    bot backtest of the same params over the in-sample period."""
    from oxbot.app import backtests
    from oxbot.app.sweeps import BotSource
    from oxbot.engine.backtest.sweep import summary

    files = csvs(bt, home)
    code, out, err = cli(
        "--bot", "duo", *files, "--sweep", "fast=3,5,8", "--sweep", "slow=15:25:5",
        "--holdout", "25%", "--jobs", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(out)
    assert r["source"] == "bot duo" and r["symbol"] == "BTC/USDT, ETH/USDT"
    assert r["holdout"] == "25%" and len(r["rows"]) == 9 and r["total"] == 9
    assert {(row["params"]["fast"], row["params"]["slow"]) for row in r["rows"]} == {
        (f, s) for f in (3, 5, 8) for s in (15, 20, 25)
    }
    assert all(row["held_out"] is not None for row in r["rows"])
    assert len({row["in_sample"]["return_pct"] for row in r["rows"]}) > 1  # params do change
    best = r["rows"][0]
    src = BotSource(
        config=asyncio.run(backtests.stored_bot("duo", home / "bots.db")),
        csv=dict(x.split("=", 1) for x in files[1::2]),
    )
    ev = src.load()
    config = src.config.model_copy(update={"params": {**src.config.params, **best["params"]}})
    direct = backtests.run_bot(
        backtests.BotBacktest(config, src.csv, None, r["first_ts"], r["split_ts"]),
        frames=ev.frames,
    )
    assert summary(direct.metrics) == best["in_sample"]
    assert direct.metrics["start_cash"] == "5000.00"  # the bot's capital, shared


def test_a_bot_sweep_refuses_a_parameter_out_of_the_schema(cli, home, bt) -> None:
    code, _out, err = cli("--bot", "duo", *csvs(bt, home), "--sweep", "fast=0:4:1")
    assert code == 2
    assert "fast" in err and "Traceback" not in err


def test_a_bot_sweep_never_writes_over_a_candle_file(cli, home, bt) -> None:
    files = csvs(bt, home)
    victim = files[1].split("=", 1)[1]
    before = Path(victim).read_bytes()
    code, _out, err = cli("--bot", "duo", *files, "--sweep", "fast=3,5", "--out", victim)
    assert code == 2 and "one of the candle files read" in err
    assert Path(victim).read_bytes() == before


def test_a_cron_bot_is_refused_not_replayed_at_its_cadence(cli, home, bt) -> None:
    """A cron bot decides at cron times (ticks included) live; a replay at candle closes would
    not be what it does, so the backtest says so instead of silently using its cadence."""
    store_bots(
        home / "bots.db",
        BotConfig(name="timed", symbols=SYMS, timeframe="1h", cron="0 */2 * * *"),
    )
    code, _out, err = cli("--bot", "timed", *csvs(bt, home))
    assert code != 0 and "cron schedule" in err and "Traceback" not in err
