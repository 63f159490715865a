"""`oxbot backtest --bot NAME --chart FILE.svg`: one price chart per symbol of the bot, in the
terminal report and in the file, with one marker per fill of that symbol at the fill's time
(the fills of the same run through oxbot.app.backtests ``run_bot``, which the CLI calls)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from oxbot.engine.models import BotConfig, BotStatus, RiskLimits
from oxbot.storage.store import Store

SYMS = ("BTC/USDT", "ETH/USDT")
SVG = "{http://www.w3.org/2000/svg}"
DUO = BotConfig(
    name="duo",
    symbols=SYMS,
    timeframe="1h",
    params={"fast": 5, "slow": 20},
    capital=Decimal(5000),
    risk=RiskLimits(max_position_pct=Decimal(40), max_exposure_pct=Decimal(60)),
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "bots.db"))
    monkeypatch.setenv("COLUMNS", "110")

    async def store() -> None:
        s = await Store.open(tmp_path / "bots.db")
        await s.save_bot(DUO, BotStatus.STOPPED)
        await s.save_bot(
            DUO.model_copy(update={"name": "timed", "cron": "*/30 * * * * *"}), BotStatus.STOPPED
        )
        await s.close()

    asyncio.run(store())
    return tmp_path


def test_one_chart_per_symbol_with_a_marker_per_fill(cli, home, bt) -> None:
    from oxbot.app import backtests

    csv = {}
    for seed, sym in enumerate(SYMS, start=3):
        path = home / f"{sym.replace('/', '-')}.csv"
        csv[sym] = str(bt.write_csv(path, bt.generated_candles(500, seed=seed)))
    chart = home / "duo.svg"
    flags = [a for sym, p in csv.items() for a in ("--csv", f"{sym}={p}")]
    code, out, err = cli("--bot", "duo", *flags, "--chart", str(chart))
    assert code == 0, err
    titles = [line.strip() for line in out.splitlines() if "entries ▲ exits ▼" in line]
    assert [t.split(":")[0] for t in titles] == ["BTC/USDT 1h", "ETH/USDT 1h"]
    fills = backtests.run_bot(backtests.BotBacktest(DUO, csv)).result.fills
    assert len(fills) > 4
    root = ET.parse(chart).getroot()
    panels = {p.get("data-symbol"): p for p in root.iter(f"{SVG}g") if p.get("class") == "panel"}
    assert set(panels) == set(SYMS)
    for sym, panel in panels.items():
        for side in ("buy", "sell"):
            want = sorted(f.ts for f in fills if f.symbol == sym and f.side.value == side)
            got = sorted(
                int(e.get("data-ts", "0"))
                for e in panel.iter(f"{SVG}path")
                if e.get("class") == side
            )
            assert got == want, (sym, side)
    assert any("bot duo" in (e.text or "") for e in root.iter(f"{SVG}text"))


def test_a_cron_bot_is_refused_before_it_is_asked_for_candles(cli, home) -> None:
    # issue 14 tryout: without --csv the refusal was "no 1h candles ... give them with --csv",
    # and only with the candles given did it say a cron bot cannot be backtested
    code, out, err = cli("--bot", "timed")
    assert code == 2 and out == ""
    assert "decides on a cron schedule" in err and "--csv" not in err
