"""The drawdown kill switch and the daily loss limit survive a SIGKILL of the engine.

A real `oxbot run --headless` subprocess trades two bots on sim until each trips its switch
(the drawdown one, the daily loss one); the engine is SIGKILLed and started again, and each bot
still refuses new entries, saying why, in the log of the new engine. They used to forget both
(peak and day-start equity lived in memory only): after a restart the first buy went through.

A bot refuses a buy only when it is flat (sma_cross buys when it holds nothing), and a flat
bot's equity does not move, so a switch that tripped stays tripped: the drawdown one for good,
the daily one until the next market day. If the restarted sim reaches a new market day before
the daily bot's first decision (rare: a market day is 4.8 minutes here), the limit rightly no
longer applies; the test then checks only that the stored day moved on.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DAY_MS = 86_400_000
TRIP = {"e-dd": "drawdown kill switch", "e-day": "daily loss limit"}


def bot(name: str, symbol: str, **risk: str) -> dict[str, Any]:
    limits = {
        "max_position_pct": "100",
        "max_exposure_pct": "100",
        "stop_loss_pct": "0.3",
        "take_profit_pct": "50",
        "daily_loss_limit_pct": "100",
        "max_drawdown_pct": "100",
        **risk,
    }
    return {
        "name": name,
        "strategy": "sma_cross",
        "params": {"fast": 2, "slow": 5},
        "symbols": [symbol],
        "timeframe": "1m",
        "capital": "10000",
        "risk": limits,
    }


def first_buy(engine: Any, name: str, timeout: float = 120) -> str:
    """The log line of the bot's first buy after the restart: its decision when the risk
    manager changed it (rejected or clamped: the log names why), or its fill when a buy went
    through as it was (an approved decision has no log line of its own, only its fill)."""
    found = engine.wait_log(rf"^.*{name}: (decided \S*:buy|buy \S+ \S+ @ ).*$", timeout)
    return found.group(0)


def test_kill_switches_survive_a_sigkill(home: Any, tmp_path: Any) -> None:
    bots = [
        bot("e-dd", "BTC/USDT", max_drawdown_pct="0.4"),
        bot("e-day", "ETH/USDT", daily_loss_limit_pct="0.4"),
    ]
    spec = tmp_path / "bots.json"
    spec.write_text(json.dumps(bots))
    home.ok("bots", "import", str(spec))
    for name in TRIP:
        home.ok("bots", "start", name)

    first = home.spawn("run", "--headless", "--sim-speed", "300")
    for name, why in TRIP.items():
        first.wait_log(rf"{name}: decided \S*:buy -> rejected: .*{why}", timeout=180)
    first.kill()  # SIGKILL: nothing is flushed on the way out

    ids = dict(home.query("SELECT name, id FROM bots WHERE deleted = 0"))
    tripped_day = {}
    for name, why in TRIP.items():
        rows = home.query(
            f"SELECT ts FROM decisions WHERE bot_id = {ids[name]} AND "
            f"verdict_reasons LIKE '%{why}%' ORDER BY ts DESC LIMIT 1"
        )
        tripped_day[name] = rows[0][0] // DAY_MS
    killed_at = home.query(f"SELECT MAX(ts) FROM decisions WHERE bot_id = {ids['e-day']}")[0][0]

    second = home.spawn("run", "--headless", "--sim-speed", "300")
    line = first_buy(second, "e-dd")
    assert "rejected" in line and TRIP["e-dd"] in line, line
    peak = home.query(f"SELECT peak_equity FROM risk_state WHERE bot_id = {ids['e-dd']}")
    assert Decimal(peak[0][0]) > Decimal(9900)  # what it remembered (a WAL read is safe)
    line = first_buy(second, "e-day")
    second.terminate()
    # The day of that decision: the bot's first buy decision stored after the restart.
    ts = home.query(
        f"SELECT ts FROM decisions WHERE bot_id = {ids['e-day']} AND ts > "
        f"{killed_at} AND actions LIKE '%:buy%' ORDER BY ts LIMIT 1"
    )[0][0]
    if ts // DAY_MS == tripped_day["e-day"]:
        assert "rejected" in line and TRIP["e-day"] in line, (
            f"e-day bought after the restart: {line}"
        )
    else:  # a new market day: the limit starts again from that day's equity
        day = home.query(f"SELECT day FROM risk_state WHERE bot_id = {ids['e-day']}")[0][0]
        assert day > tripped_day["e-day"]
        print(f"e-day: the restarted market reached a new day first; decision: {line}")
    assert "Traceback" not in first.text() + second.text()
