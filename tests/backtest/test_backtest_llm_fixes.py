"""Recorded-reply LLM backtests, the adversarial findings of issue 15 (notes adv15): each
through the real path (a stored bot, `oxbot backtest --bot` or the app API, the live
LLMStrategy, httpx to the fake OpenAI-compatible server of tests/support/fake_llm_server.py,
the reply cache under OXBOT_HOME). The fake's replies and usage are those of
test_backtest_llm.py ``reply_for`` (a function of the prompt; 1 token per 4 characters).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_llm_server import FakeLLMServer, Reply, Seen

from oxbot.engine.models import BotConfig, BotStatus, RiskLimits
from oxbot.storage.store import Store

pytestmark = pytest.mark.slow

SYM = "BTC/USDT"
MODEL = "gpt-4o-mini"


# As test_backtest_llm.py (--import-mode=importlib: a test module cannot import another).
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


def run_api(config: BotConfig, csv: Path, *, until: int | None = None, **opts: Any) -> Any:
    from oxbot.app import backtests
    from oxbot.app.llm_backtest import LlmOptions

    spec = backtests.BotBacktest(config, {SYM: str(csv)}, until_ms=until)
    return backtests.run_bot(spec, llm=LlmOptions(**opts))


@pytest.fixture
def server() -> Any:
    srv = FakeLLMServer("openai").start()
    srv.handler = reply_for
    yield srv
    srv.close()


def save(tmp: Path, config: BotConfig) -> None:
    async def go() -> None:
        store = await Store.open(tmp / "bots.db")
        await store.save_bot(config, BotStatus.STOPPED)
        await store.close()

    asyncio.run(go())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OXBOT_DB", str(tmp_path / "bots.db"))
    return tmp_path


def cache_file(home: Path) -> Path:
    from oxbot.app.llm_backtest import replies_path

    return replies_path()


def with_params(config: BotConfig, **params: Any) -> BotConfig:
    return config.model_copy(update={"params": {**config.params, **params}})


def test_cut_off_and_empty_streams_are_not_stored(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """F-A: a stream that ends without finish_reason/[DONE], and an empty 200 SSE body, are
    failures: nothing is stored, and the next run asks the model again."""
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    config = llm_bot(server.url)

    def broken(seen: Seen) -> Reply:
        good = reply_for(seen)
        if len(server.requests) % 2:
            return Reply(good.text, cut_clean=True)
        return Reply(raw=[])

    server.handler = broken
    first = run_api(config, csv)
    m = first.metrics["llm"]
    points = m["decision_points"]
    assert points > 5 and m["failures"] == points and m["cached"] == 0
    assert m["not_stored"] == len(server.requests)  # every reply, repairs included
    assert m["failure_kinds"] and sum(m["failure_kinds"].values()) == points
    asked = len(server.requests)
    server.handler = reply_for
    again = run_api(config, csv)
    assert again.metrics["llm"]["cached"] == 0
    assert again.metrics["llm"]["calls"] == points == len(server.requests) - asked
    assert again.metrics["llm"]["failures"] == 0 and again.result.fills


def test_a_reply_with_a_lone_surrogate_is_stored_and_replayed(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """F-I: the JSON escape \\ud83d (half an emoji) in the reply: the run trades as live does,
    the reply is stored, and the rerun replays it without a call."""
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    config = llm_bot(server.url)

    def half_emoji(seen: Seen) -> Reply:
        r = reply_for(seen)
        text = r.text.replace("The trend", "The \ud83d trend")
        return Reply(text, usage=r.usage)  # ascii_only: sent as the escape \ud83d

    server.handler = half_emoji
    first = run_api(config, csv)
    points = first.metrics["llm"]["decision_points"]
    assert first.metrics["llm"]["failures"] == 0 and first.result.fills
    again = run_api(config, csv)
    assert len(server.requests) == points
    assert again.metrics["llm"]["cached"] == points and again.metrics["llm"]["failures"] == 0
    assert again.result.fills == first.result.fills


def test_max_cost_stops_the_run_when_the_spend_reaches_it_and_a_rerun_resumes(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """F-C: replies that cost 20x the estimate (long reasoning, billed as output): the run
    passes the estimate but stops once its calls spent --max-cost, saying so; every reply is
    kept and the next run replays them first."""

    def thinker(seen: Seen) -> Reply:
        r = reply_for(seen)
        return Reply(r.text, think="Let me think. " * 300, usage=(r.usage[0], 1100))

    server.handler = thinker
    save(home, llm_bot(server.url))
    candles = bt.generated_candles(200)
    csv = bt.write_csv(home / "btc.csv", candles)
    args = ("--bot", "thinker", "--csv", f"{SYM}={csv}", "--json")
    from oxbot.app.llm_backtest import estimate

    est = estimate(llm_bot(server.url), {SYM: candles})
    cap = est.usd * 2
    code, _out, err = cli(*args, "--max-cost", f"{cap:.6f}")
    assert code == 2, err
    assert "stopped: the model calls spent $" in err and f"--max-cost {cap:.6f}" in err
    called = len(server.requests)
    assert 3 <= called < est.points
    spent = sum(
        (Decimal("0.15") * reply_for(s).usage[0] + Decimal("0.60") * 1100) / 1_000_000
        for s in server.requests
    )
    per_call = spent / called
    assert cap <= spent < cap + per_call  # stopped at the first call that reached the cap
    code, _out, err = cli(*args, "--max-cost", "1")
    assert code == 0, err
    assert f"{called:,} of them stored (free)" in err
    assert len(server.requests) == est.points  # the rest, once each


def test_a_reasoning_model_is_estimated_at_max_tokens(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """F-C: o4-mini (priced, a reasoning model): each reply counted at max_tokens."""
    from oxbot.app.llm_backtest import estimate

    config = with_params(llm_bot(server.url), model="o4-mini", max_tokens=1200)
    est = estimate(config, {SYM: bt.generated_candles(200)})
    assert est.reasoning and est.tokens_out == 1200 * est.points
    assert "a reasoning model: each reply counted at max_tokens" in est.line()


def test_max_cost_is_refused_for_a_paid_model_of_unknown_price(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F-D: openrouter (a paid service; here a local proxy) with a model oxbot has no price
    for: --max-cost cannot cap it and says so before any call."""
    monkeypatch.setenv("OXBOT_OPENROUTER_API_KEY", "sk-or-test-0123456789")
    save(home, with_params(llm_bot(server.url), provider="openrouter", model="vendor/mystery-71b"))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    code, _out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--max-cost", "0")
    assert code == 2
    assert "--max-cost cannot cap model vendor/mystery-71b: its price is unknown" in err
    assert 'prices={"vendor/mystery-71b": [IN, OUT]}' in err
    assert server.requests == []


def test_a_damaged_reply_cache_is_named_with_its_fix(home: Path, bt: Any, cli: Any) -> None:
    """F-E: a reply cache that is not a database: the message names the cache file and the
    fix, not the ledger."""
    save(home, llm_bot("http://127.0.0.1:9/v1"))
    path = cache_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("junk\n" * 100)
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    code, _out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--yes")
    assert code == 1
    assert f"the reply cache {path} is damaged" in err and "delete it" in err
    assert "oxbot doctor" not in err and "--db" not in err


def test_cache_only_opens_the_cache_read_only(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """F-M: a cache-only run writes nothing to the cache (opened with mode=ro: no -wal/-shm
    file, the file unchanged), so a cache on a read-only disk replays. (The tests run as root,
    for whom file modes do not forbid writing; what is checked is that nothing is written.)"""
    save(home, llm_bot(server.url))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    args = ("--bot", "thinker", "--csv", f"{SYM}={csv}", "--json")
    assert cli(*args, "--yes")[0] == 0
    path = cache_file(home)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")  # checkpoint: the file alone holds every reply
    db.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    before = path.read_bytes()
    code, out, err = cli(*args, "--cache-only")
    assert code == 0, err
    assert json.loads(out)["llm"]["cached"] == len(server.requests)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


def test_a_missing_key_is_refused_before_the_run(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F-F: provider openai without a key: refused before any call, naming the fix."""
    monkeypatch.delenv("OXBOT_OPENAI_API_KEY", raising=False)
    monkeypatch.setattr("oxbot.storage.secrets.key_resolver", lambda: lambda _p: None)
    save(home, with_params(llm_bot(server.url), provider="openai"))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    code, _out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--yes")
    assert code == 2, err
    assert "needs an API key for openai" in err and "oxbot keys set openai" in err
    assert server.requests == []


def test_a_run_whose_every_decision_failed_ends_non_zero_with_the_reason(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """F-F: every call refused (HTTP 400 [OA-errors]): exit 1, the kind and the last reason."""
    server.handler = lambda seen: Reply(
        status=400,
        body=json.dumps(
            {"error": {"message": "model overloaded", "type": "invalid_request_error"}}
        ),
    )
    save(home, llm_bot(server.url))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(100))
    code, out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--yes", "--json")
    assert code == 1, err
    m = json.loads(out)["llm"]
    assert m["failures"] == m["decision_points"] > 0
    assert m["failure_kinds"] == {"bad request": m["decision_points"]}
    assert "every one of the" in err and "bad request" in err and "model overloaded" in err


def test_a_local_openai_compatible_server_of_an_unpriced_model_is_free(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """F-H: vLLM / llama.cpp on 127.0.0.1 serving a model with no price: free, called without
    --yes off a terminal (README: local OpenAI-compatible servers cost nothing)."""
    save(home, with_params(llm_bot(server.url), model="Qwen2.5-7B-Instruct"))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    code, out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--json")
    assert code == 0, err
    assert "free (local model)" in err
    assert json.loads(out)["llm"]["calls"] == len(server.requests) > 0
    # M3: --cache-only on a free model with nothing stored names the fix that fits
    csv2 = bt.write_csv(home / "btc2.csv", bt.generated_candles(140))
    code, _out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv2}", "--cache-only")
    assert code == 2
    assert "(--cache-only: no model is called)" in err
    assert "the model is free (local): drop --cache-only to call it" in err


def test_another_server_or_request_shape_is_asked_again(
    home: Path, server: FakeLLMServer, bt: Any
) -> None:
    """F-B, F-K: the same provider and model at another base URL, or with structured=prompt,
    does not replay the first one's replies; the report names the server."""
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(120))
    first = run_api(llm_bot(server.url), csv)
    points = first.metrics["llm"]["decision_points"]
    assert first.metrics["llm"]["server"] == server.url
    other = FakeLLMServer("openai").start()
    other.handler = reply_for
    try:
        moved = run_api(llm_bot(other.url), csv)
        assert moved.metrics["llm"]["calls"] == points == len(other.requests)
        assert moved.metrics["llm"]["server"] == other.url
    finally:
        other.close()
    trailing = run_api(llm_bot(server.url + "/"), csv)  # normalised: the same server
    assert trailing.metrics["llm"]["cached"] == points
    shaped = run_api(with_params(llm_bot(server.url), structured="prompt"), csv)
    assert shaped.metrics["llm"]["calls"] == points
    assert len(server.requests) == 2 * points


def test_two_runs_at_once_on_one_cache_converge(home: Path, server: FakeLLMServer, bt: Any) -> None:
    """F-G: a model that answers differently on every call (temperature > 0), two runs of one
    bot at once: the first stored reply of a prompt wins, both runs trade on it, and a rerun
    reproduces both (no run reports a result nothing can reproduce)."""
    import threading

    calls = iter(range(10**6))

    def varying(seen: Seen) -> Reply:
        r = reply_for(seen)
        n = next(calls)
        action = ("buy", "hold", "close")[n % 3]
        text = r.text.replace('"action": "hold"', f'"action": "{action}"')
        text = text.replace('"action": "buy"', f'"action": "{action}"').replace(
            '"size_pct": null', '"size_pct": 20'
        )
        return Reply(text, usage=r.usage, pace_s=0.002)

    server.handler = varying
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(200))
    config = llm_bot(server.url)
    out: dict[str, Any] = {}

    def run(name: str) -> None:
        out[name] = run_api(config, csv)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = out["a"], out["b"]
    assert a.metrics["llm"]["failures"] == b.metrics["llm"]["failures"] == 0
    again = run_api(config, csv)
    assert again.metrics["llm"]["calls"] == 0
    assert again.result.fills == a.result.fills == b.result.fills


def test_the_estimate_is_within_10_percent_for_anthropic_with_a_long_memory(
    home: Path, bt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F-J: Anthropic (no JSON schema is sent: no JSON mode, [AN-create]) with memory=50 (the
    bot keeps 20 records, engine/bot.py MEMORY): the estimate is within 10 % of the spend the
    server reports (1 token per 4 characters of the system text, messages and reply)."""
    from oxbot.app.llm_backtest import estimate

    monkeypatch.setenv("OXBOT_ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    srv = FakeLLMServer("anthropic", api_key="sk-ant-test-0123456789").start()

    def counted(seen: Seen) -> Reply:
        r = reply_for(seen)
        body = seen.body
        system = body.get("system") or ""
        system = system if isinstance(system, str) else json.dumps(system)
        received = system + "".join(str(m.get("content", "")) for m in body["messages"])
        return Reply(r.text, usage=(len(received) // 4, len(r.text) // 4))

    srv.handler = counted
    try:
        candles = bt.generated_candles(400)
        csv = bt.write_csv(home / "btc.csv", candles)
        config = with_params(
            llm_bot(srv.url),
            provider="anthropic",
            model="claude-haiku-4-5",
            memory=50,
            anthropic_prefill=False,
        )
        est = estimate(config, {SYM: candles})
        first = run_api(config, csv)
        spent = Decimal(first.metrics["llm"]["spent"])
        assert first.metrics["llm"]["calls"] == est.points
        assert abs(est.usd - spent) <= spent / 10, (est, spent)
    finally:
        srv.close()


def test_a_stray_candle_late_in_the_file_is_refused_not_taken_as_the_timeframe(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """F-P: `--strategy llm --data` takes the file's timeframe from its most common step; one
    row 30 min after another in a 1h file is refused, naming it (the smallest step would make
    the run 30m and change every earlier prompt)."""
    import pandas as pd

    candles = bt.generated_candles(120)
    row = candles.iloc[[100]].copy()
    row["ts"] = row["ts"] + 30 * 60_000
    stray = pd.concat([candles, row]).sort_values("ts").reset_index(drop=True)
    csv = bt.write_csv(home / "stray.csv", stray)
    params = ["--param", "provider=openai_compatible", "--param", f"base_url={server.url}"]
    params += ["--param", "model=gpt-4o-mini", "--yes"]
    code, _out, err = cli("--strategy", "llm", "--data", str(csv), *params)
    assert code == 2, err
    assert "opens 30 min after the one before, in a file of 1h candles" in err
    assert server.requests == []


def test_the_report_says_when_the_spend_rests_on_estimated_usage(
    home: Path, server: FakeLLMServer, bt: Any, cli: Any
) -> None:
    """M4: a server that reports no usage (no usage chunk, [OA-stream] include_usage not
    honoured, as some local servers do): the spend is an estimate, and the report says so."""

    def no_usage(seen: Seen) -> Reply:
        return Reply(reply_for(seen).text, usage=None)

    server.handler = no_usage
    save(home, llm_bot(server.url))
    csv = bt.write_csv(home / "btc.csv", bt.generated_candles(100))
    code, out, err = cli("--bot", "thinker", "--csv", f"{SYM}={csv}", "--yes")
    assert code == 0, err
    n = len(server.requests)
    assert n > 0 and f"the usage of {n:,} calls estimated, not reported" in out


def test_two_runs_opening_a_new_cache_at_once_both_open_it(tmp_path: Path) -> None:
    """Two backtests started together on a fresh reply cache: switching the new file to WAL
    takes an exclusive lock, and SQLite answered the second "database is locked" at once, its
    busy timeout not applied (seen 6 in 300 opens under load; the two-runs test failed on
    it). Both open it now, every time."""
    import threading

    from oxbot.engine.backtest.replies import ReplyCache

    errors: list[BaseException] = []
    for i in range(150):
        path = tmp_path / f"c{i}" / "llm_replies.sqlite"
        gate = threading.Barrier(2)

        def open_it(path: Path = path, gate: threading.Barrier = gate) -> None:
            gate.wait()
            try:
                ReplyCache(path).close()
            except BaseException as e:  # noqa: BLE001 - counted below
                errors.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
