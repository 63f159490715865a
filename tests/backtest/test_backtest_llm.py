"""Recorded-reply backtests of LLM bots (issue 15), through the real path: a stored LLM bot,
`oxbot backtest --bot` (the ``cli`` fixture: real parser and error mapping) or the app API,
the live prompt builder and LLMStrategy, httpx to the fake OpenAI-compatible server of
tests/support/fake_llm_server.py (its requests counted there), the reply cache file under
OXBOT_HOME (storage/paths.py ``data_dir``), the RiskManager and the paper broker.

The fake's replies are a function of the prompt only (a hash of its text picks the action), so
a run is deterministic given the prompts. Its usage figures: one token per 4 characters of the
messages and JSON schema it received and of the reply it sent (the rule of thumb OpenAI
documents, https://help.openai.com/en/articles/4936856 "1 token ~= 4 chars in English");
the spend is those tokens at the model's list price (engine/llm/pricing.py gpt-4o-mini).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer, Reply, Seen

from oxbot.engine.models import BotConfig, BotStatus, RiskLimits
from oxbot.storage.store import Store

pytestmark = pytest.mark.slow

SYM = "BTC/USDT"
HOUR = 3_600_000
MODEL = "gpt-4o-mini"  # priced in engine/llm/pricing.py: 0.15 / 0.60 USD per 1M tokens
PRICE = (Decimal("0.15"), Decimal("0.60"))


def reply_for(seen: Seen) -> Reply:
    """buy when flat, close when held, else hold: picked by the prompt's hash."""
    user = seen.user_text
    flat = "no open positions" in user
    pick = int(hashlib.sha256(user.encode()).hexdigest(), 16) % 4
    action = "hold"
    if flat and pick == 0:
        action = "buy"
    elif not flat and pick == 1:
        action = "close"
    text = json.dumps(
        {
            "analysis": "The trend and momentum readings were weighed against the recent range; "
            "the signals are mixed, so the call follows the strongest of them.",
            "decisions": [
                {
                    "symbol": SYM,
                    "action": action,
                    "size_pct": 20 if action == "buy" else None,
                    "stop_loss": None,
                    "take_profit": None,
                    "confidence": 0.6,
                    "reasoning": "Momentum and the moving averages point the same way this time.",
                }
            ],
        }
    )
    body = seen.body
    received = "".join(str(m.get("content", "")) for m in body["messages"])
    received += json.dumps(body.get("response_format") or "")
    return Reply(text, usage=(len(received) // 4, len(text) // 4))


def spend(server: FakeLLMServer) -> Decimal:
    total = Decimal(0)
    for seen in server.requests:
        r = reply_for(seen)
        tin, tout = r.usage
        total += (PRICE[0] * tin + PRICE[1] * tout) / 1_000_000
    return total


@pytest.fixture
def server() -> Any:
    srv = FakeLLMServer("openai").start()
    srv.handler = reply_for
    yield srv
    srv.close()


def llm_bot(url: str, **kw: Any) -> BotConfig:
    return BotConfig(
        name="thinker",
        symbols=(SYM,),
        timeframe="1h",
        strategy="llm",
        params={
            "provider": "openai_compatible",
            "base_url": url,
            "model": MODEL,
            "temperature": 0,
            "memory": 3,
        },
        cadence_s=4 * 3600,  # a decision every 4 candles
        risk=RiskLimits(max_position_pct=Decimal(30), max_exposure_pct=Decimal(60)),
        **kw,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeLLMServer) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "bots.db"))

    async def save() -> None:
        store = await Store.open(tmp_path / "bots.db")
        await store.save_bot(llm_bot(server.url), BotStatus.STOPPED)
        await store.close()

    asyncio.run(save())
    return tmp_path


def run_api(config: BotConfig, csv: Path, *, until: int | None = None, **opts: Any) -> Any:
    from oxbot.app import backtests
    from oxbot.app.llm_backtest import LlmOptions

    spec = backtests.BotBacktest(config, {SYM: str(csv)}, until_ms=until)
    return backtests.run_bot(spec, llm=LlmOptions(**opts))


def test_first_run_calls_once_per_point_rerun_calls_none_same_fills(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    from oxbot.app.llm_backtest import estimate
    from oxbot.engine.backtest.llmrun import decision_points
    from oxbot.engine.llm.strategy import LLMParams, LLMStrategy

    candles = bt.generated_candles(700)
    csv = bt.write_csv(home / "btc.csv", candles)
    until = int(candles["ts"].iloc[600])  # the first 600 candles
    config = llm_bot(server.url)
    first_points = decision_points(
        config, LLMStrategy(LLMParams(**config.params)), {SYM: candles}, None, until
    )
    est = estimate(config, {SYM: candles}, None, until)

    first = run_api(config, csv, until=until)
    points = first.metrics["llm"]["decision_points"]
    assert points == len(first_points) == est.points == 149  # (600 - warm-up) / 4
    assert len(server.requests) == points  # one call per decision point, no repair
    assert first.metrics["llm"]["calls"] == points and first.metrics["llm"]["cached"] == 0
    assert len(first.result.fills) >= 20, len(first.result.fills)  # the replies trade
    # The estimate before the run is within 10 % of what the server billed.
    billed = spend(server)
    assert Decimal(first.metrics["llm"]["spent"]) == billed
    assert abs(est.usd - billed) <= billed / 10, (est, billed)

    again = run_api(config, csv, until=until)
    assert len(server.requests) == points  # the rerun called nothing
    assert again.metrics["llm"]["calls"] == 0 and again.metrics["llm"]["cached"] == points
    assert again.metrics["llm"]["spent"] == "0"
    assert again.result.fills == first.result.fills
    assert again.result.final_equity == first.result.final_equity

    # --cache-only over 100 more candles: the stored range replays, the rest is named.
    code, _out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--cache-only", "--json")
    assert code == 2, err
    assert len(server.requests) == points
    missing = (
        len(decision_points(config, LLMStrategy(LLMParams(**config.params)), {SYM: candles}))
        - points
    )
    assert missing == 25
    from oxbot.app.backtests import utc

    first_missing = utc(first_points[-1] + 4 * HOUR)
    assert (
        f"{missing} of {points + missing} decision points of bot thinker have no stored reply"
        in err
    )
    assert f"first at {first_missing}" in err


def test_cli_estimate_max_cost_and_confirmation(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    candles = bt.generated_candles(200)
    csv = bt.write_csv(home / "btc.csv", candles)
    args = ("--bot", "thinker", "--csv", f"{SYM}={csv}", "--json")
    code, _out, err = cli(*args, "--max-cost", "0.000001")
    assert code == 2
    assert re.search(r"LLM openai_compatible gpt-4o-mini: 49 model calls, ~[\d,]+ tokens in", err)
    assert "is above --max-cost 0.000001" in err
    code, _out, err = cli(*args)  # not a terminal, no --yes: the stored replies only (none)
    assert code == 2 and "49 of 49 decision points of bot thinker have no stored reply" in err
    assert "call it with --yes or --max-cost USD" in err
    assert server.requests == []
    code, out, err = cli(*args, "--yes")
    assert code == 0, err
    m = json.loads(out)["llm"]
    assert m["calls"] == len(server.requests) == m["decision_points"] == 49
    code, out, err = cli(*args)  # the rerun needs no flag: every reply is stored
    assert code == 0, err
    assert json.loads(out)["llm"]["cached"] == 49 == len(server.requests)
    assert "49 of them stored (free), counted: the other 0" in err  # a rerun is free (F-L)
    assert "~$0.0000" in err


def test_interrupted_run_keeps_its_replies_and_resumes(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    candles = bt.generated_candles(200)
    csv = bt.write_csv(home / "btc.csv", candles)
    config = llm_bot(server.url)

    def stop_after_ten(tally: Any) -> None:
        if tally.calls == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_api(config, csv, on_call=stop_after_ten)
    assert len(server.requests) == 10
    resumed = run_api(config, csv)
    assert resumed.metrics["llm"]["cached"] == 10
    assert resumed.metrics["llm"]["calls"] == 39 == len(server.requests) - 10


def test_no_look_ahead_later_candles_change_no_earlier_prompt(bt: Any) -> None:
    """The offline provider behind a recorder: each request's hash by its decision time."""
    from oxbot.engine.backtest.botrun import run_bot
    from oxbot.engine.backtest.llmrun import LlmReplay
    from oxbot.engine.backtest.replies import request_hash
    from oxbot.engine.llm.provider import Provider
    from oxbot.engine.llm.strategy import LLMParams, LLMStrategy

    config = BotConfig(
        name="peek",
        symbols=(SYM,),
        timeframe="1h",
        strategy="llm",
        params={"provider": "offline"},
        cadence_s=2 * 3600,
    )

    def hashes(frame: Any) -> dict[str, str]:
        seen: dict[str, str] = {}

        class Recorder(Provider):
            def __init__(self, inner: Provider) -> None:
                self.inner, self.name, self.model = inner, inner.name, inner.model

            async def complete(self, req: Any, on_chunk: Any) -> Any:
                when = re.search(r"Time (\S+ \S+) UTC", req.messages[0]["content"])
                seen[when.group(1)] = request_hash(req)
                return await self.inner.complete(req, on_chunk)

        strat = LLMStrategy(LLMParams(provider="offline"))
        strat.provider_wrap = Recorder
        result = run_bot(config, strat, {SYM: frame}, llm=LlmReplay())
        assert result.fills  # the offline rules trade: positions are in the prompts
        return seen

    candles = bt.generated_candles(400)
    base = hashes(candles)
    cut = 300
    t = int(candles["ts"].iloc[cut])  # candles opening at or after t are changed
    changed = candles.copy()
    for col in ("open", "high", "low", "close"):
        changed.loc[cut:, col] = changed.loc[cut:, col] * 1.37
    other = hashes(changed)
    from oxbot.app.backtests import utc

    # a prompt at close c saw the candles opening before c: those before t are the same
    before = [k for k in base if k <= utc(t)]
    after = [k for k in base if k > utc(t)]
    assert len(before) > 100 and after
    assert all(base[k] == other[k] for k in before)
    assert any(base[k] != other.get(k) for k in after)


def test_anthropic_replies_are_recorded_and_replayed(
    home: Path, bt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the fake Anthropic server (its key from OXBOT_ANTHROPIC_API_KEY,
    storage/secrets.py: environment variables are a read-only source of keys)."""
    monkeypatch.setenv("OXBOT_ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    srv = FakeLLMServer("anthropic", api_key="sk-ant-test-0123456789").start()
    srv.handler = reply_for
    try:
        csv = bt.write_csv(home / "btc.csv", bt.generated_candles(300))
        config = llm_bot(srv.url).model_copy(
            update={
                "params": {
                    "provider": "anthropic",
                    "base_url": srv.url,
                    "model": "claude-haiku-4-5",
                    "temperature": 0,
                    "anthropic_prefill": False,
                }
            }
        )
        first = run_api(config, csv)
        points = first.metrics["llm"]["decision_points"]
        assert points == len(srv.requests) == first.metrics["llm"]["calls"] == 74
        assert first.metrics["llm"]["failures"] == 0 and first.result.fills
        again = run_api(config, csv)
        assert len(srv.requests) == points and again.metrics["llm"]["cached"] == points
        assert again.result.fills == first.result.fills
    finally:
        srv.close()


def test_strategy_llm_with_params_over_a_file(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    args = (
        "--strategy",
        "llm",
        "--param",
        "provider=openai_compatible",
        "--param",
        f"base_url={server.url}",
        "--param",
        f"model={MODEL}",
        "--data",
        str(csv),
        "--symbol",
        SYM,
        "--json",
    )
    code, out, err = cli(*args, "--yes")
    assert code == 0, err
    m = json.loads(out)
    assert m["llm"]["decision_points"] == 119 == m["llm"]["calls"] == len(server.requests)
    chart = home / "llm.svg"
    code, out, err = cli(*args, "--cache-only", "--chart", str(chart))
    assert code == 0, err
    again = json.loads(out)
    assert again["llm"]["calls"] == 0 and len(server.requests) == 119
    assert again["final_equity"] == m["final_equity"] and again["trades"] == m["trades"]
    # the exported chart of an LLM run: one marker per fill (no moving averages of its own)
    svg = ET.parse(chart).getroot()
    markers = [e for e in svg.iter("{http://www.w3.org/2000/svg}path") if e.get("data-ts")]
    assert len(markers) == again["fills"] > 0
    code, _out, err = cli(*args, "--no-risk", "--yes")
    assert code == 2 and "--no-risk is not available for the llm strategy" in err


def test_without_options_a_paid_model_is_never_called(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """What the cockpit's backtest screen runs (app/backtests.py ``run_bot`` without ``llm``)."""
    from oxbot.app import backtests
    from oxbot.engine.errors import UsageError

    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(60))
    spec = backtests.BotBacktest(llm_bot(server.url), {SYM: str(csv)})
    with pytest.raises(UsageError, match="14 of 14 decision points of bot thinker have no"):
        backtests.run_bot(spec)
    assert server.requests == []
    run_api(llm_bot(server.url), csv)  # allowed: the replies are stored
    assert len(server.requests) == 14
    assert backtests.run_bot(spec).metrics["llm"]["cached"] == 14


def test_on_a_terminal_the_run_asks_first(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(60))
    answers = iter(["n", "y"])
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or next(answers))
    args = ("--bot", "thinker", "--csv", f"{SYM}={csv}", "--json")
    code, _out, err = cli(*args)
    assert code == 2 and "not started: no model was called" in err
    assert asked == ["Call the model at this cost? [y/N] "] and server.requests == []
    code, out, err = cli(*args)
    assert code == 0, err
    assert json.loads(out)["llm"]["calls"] == 14 == len(server.requests)


def test_the_daily_budget_counts_by_simulated_day(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """A budget one call exceeds: one call per simulated UTC day (the first of the day), the
    others skipped until the next day, each pause a halt of the report."""
    candles = bt.generated_candles(24 * 5)  # 5 days of 1h candles
    csv = bt.write_csv(home / "btc.csv", candles)
    config = llm_bot(server.url)
    config = config.model_copy(
        update={"params": {**config.params, "daily_budget_usd": "0.0000001"}}
    )
    out = run_api(config, csv)
    days = {
        int(t) // 86_400_000
        for t in candles["ts"].iloc[1:] + HOUR  # closes after the warm-up
    }
    assert len(server.requests) == out.metrics["llm"]["calls"] == len(days)
    # M9 (adv15): the points the budget refused are no decision points (no call was made)
    assert out.metrics["llm"]["decision_points"] == len(days)
    pauses = [h for h in out.metrics["risk_halts"] if h["reason"].startswith("llm budget")]
    assert len(pauses) == len(days)
