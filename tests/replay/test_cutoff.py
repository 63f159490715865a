"""The knowledge cut-off in the LLM backtest report (engine/llm/cutoffs.py, app/llm_backtest.py
``cutoff_summary``, printed by `oxbot backtest --bot`): stated when the model is known, a
WARNING when the backtest period starts before it, "cut-off unknown" otherwise. The CLI runs
as a subprocess against the fake OpenAI-compatible server of tests/support/fake_llm_server.py
(its replies: always hold, so the run is quick)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer, Reply, Seen

from oxbot.engine.llm.cutoffs import CUTOFFS, cutoff, look_ahead
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.store import Store

SYM = "BTC/USDT"
HOUR = 3_600_000


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def test_prefix_match_takes_the_longest_key() -> None:
    c = cutoff("gpt-4o-2024-08-06")
    assert c is not None and c.label == "2023-10" and c is CUTOFFS["gpt-4o"]
    assert cutoff("gpt-4o-mini-2024-07-18") is CUTOFFS["gpt-4o-mini"]
    assert cutoff("openai/gpt-4.1-mini") is CUTOFFS["gpt-4.1"]
    assert cutoff("claude-3-5-sonnet-20241022") is None  # its own cut-off was not read
    assert cutoff("Claude-3-Haiku-20240307") is CUTOFFS["claude-3-haiku"]
    assert cutoff("llama3:70b-instruct") is CUTOFFS["llama3:70b"]
    assert all(c.source for c in CUTOFFS.values())


def test_warning_inside_the_cutoff_month_and_not_after() -> None:
    line, warn = look_ahead("gpt-4o-mini", ms("2023-10-20"))
    assert warn and line.startswith("WARNING: model gpt-4o-mini: knowledge cut-off 2023-10")
    assert "the model may have seen these prices" in line
    line, warn = look_ahead("gpt-4o-mini", ms("2023-11-01"))
    assert not warn
    assert line == "model gpt-4o-mini: knowledge cut-off 2023-10, before the backtest period"
    assert look_ahead("my-local-model", ms("2020-01-01")) == (
        "model my-local-model: knowledge cut-off unknown",
        False,
    )


def hold(seen: Seen) -> Reply:
    decision = {"symbol": SYM, "action": "hold", "reasoning": "no edge"}
    return Reply(json.dumps({"analysis": "flat market", "decisions": [decision]}), usage=(50, 20))


@pytest.fixture
def server() -> Any:
    srv = FakeLLMServer("openai").start()
    srv.handler = hold
    yield srv
    srv.close()


def write_candles(path: Path, start_ms: int, n: int = 60) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(n):
        p = 100 + (i % 7)
        lines.append(f"{start_ms + i * HOUR},{p},{p + 1},{p - 1},{p + 0.5},10")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    tmp: Path, url: str, model: str, start: str, inproc: Any = None
) -> tuple[str, dict[str, Any]]:
    """The report as text and its JSON: as a subprocess, or in this process through
    ``inproc`` (the real parser and handler, minus an interpreter start)."""
    db = tmp / f"{model.replace(':', '_')}-{start}.db"
    config = BotConfig(
        name="thinker",
        symbols=(SYM,),
        timeframe="1h",
        strategy="llm",
        params={"provider": "openai_compatible", "base_url": url, "model": model},
        cadence_s=12 * 3600,
        capital=Decimal(10000),
    )

    async def save() -> None:
        store = await Store.open(db)
        await store.save_bot(config, BotStatus.STOPPED)
        await store.close()

    asyncio.run(save())
    csv = write_candles(tmp / f"{start}.csv", ms(start))
    env = {**os.environ, "OXBOT_HOME": str(tmp / "home"), "OXBOT_DB": str(db)}
    if inproc is not None:
        argv = ["--db", str(db), "backtest", "--bot", "thinker", "--csv", f"{SYM}={csv}", "--yes"]
        text_out = inproc(argv)
        return text_out, json.loads(inproc([*argv, "--json"]))["llm"]["cutoff"]
    base = [sys.executable, "-m", "oxbot.cli.main", "backtest", "--bot", "thinker"]
    args = [*base, "--csv", f"{SYM}={csv}", "--yes"]
    text = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert text.returncode == 0, text.stderr
    js = subprocess.run(
        [*args, "--json"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert js.returncode == 0, js.stderr
    return text.stdout, json.loads(js.stdout)["llm"]["cutoff"]


def test_cli_report_warns_states_or_says_unknown(
    tmp_path: Path,
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from oxbot.cli.main import main

    def inproc(argv: list[str]) -> str:
        capsys.readouterr()
        assert main(argv) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    # the first case as a user runs it (a subprocess), the others in this process
    out, data = run(tmp_path, server.url, "gpt-4o-mini", "2023-09-01")
    assert (
        "WARNING: model gpt-4o-mini: knowledge cut-off 2023-10, after the backtest starts "
        "(2023-09-01): the model may have seen these prices"
    ) in out
    assert data["warning"] is True and data["cutoff"] == "2023-10"
    assert "platform.openai.com/docs/models/gpt-4o-mini" in data["source"]

    out, data = run(tmp_path, server.url, "gpt-4o-mini", "2024-03-01", inproc)
    assert "model gpt-4o-mini: knowledge cut-off 2023-10, before the backtest period" in out
    assert "WARNING" not in out and data["warning"] is False

    out, data = run(tmp_path, server.url, "tiny-local", "2024-03-01", inproc)
    assert "model tiny-local: knowledge cut-off unknown" in out
    assert data == {"text": data["text"], "warning": False, "cutoff": None, "source": None}
