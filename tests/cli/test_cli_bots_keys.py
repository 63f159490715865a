"""`oxbot bots add|start` without an engine: a LIVE bot without exchange keys, or an LLM bot
whose provider needs a key that is not set, is refused once, with one line that names
`oxbot keys set <provider>`, and nothing is written (it used to be accepted, then failed every
cycle: 20 toasts and an "error" state with no reason kept). An LLM budget without a price for
the model is refused the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def _rows(home: Path) -> list[tuple[str, str]]:
    db = home / "data" / "oxbot.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT name, status FROM bots WHERE deleted = 0"))


def _one_line(err: str) -> str:
    assert err.startswith("oxbot: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_live_bot_without_exchange_keys_is_refused_at_add(oxbot, home) -> None:
    code, out, err = oxbot("bots", "add", "real", "--exchange", "binance", "--live",
                           "--yes-i-mean-live")
    assert code == 2 and out == ""
    assert "API keys for binance" in _one_line(err) and "`oxbot keys set binance`" in err
    assert _rows(home) == []


def test_live_bot_without_exchange_keys_is_refused_at_start(oxbot, home,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("OXBOT_BINANCE_API_KEY", "bnk-cli-test-key")
    monkeypatch.setenv("OXBOT_BINANCE_SECRET", "bns-cli-test-secret")
    assert oxbot("bots", "add", "real", "--exchange", "binance", "--live",
                 "--yes-i-mean-live")[0] == 0
    monkeypatch.delenv("OXBOT_BINANCE_API_KEY")
    monkeypatch.delenv("OXBOT_BINANCE_SECRET")
    code, out, err = oxbot("bots", "start", "real")
    assert code == 2 and "`oxbot keys set binance`" in _one_line(err)
    # No keyring in the test environment: the line also says how to do without one.
    assert "OXBOT_BINANCE_API_KEY" in err and "OXBOT_BINANCE_SECRET" in err
    assert _rows(home) == [("real", "stopped")]


def test_llm_bot_without_its_key_is_refused_and_a_keyless_one_is_not(oxbot, home) -> None:
    code, _out, err = oxbot("bots", "add", "gpt", "--strategy", "llm", "--param",
                            "provider=openai", "--start")
    assert code == 2 and "an API key for openai" in _one_line(err)
    assert "`oxbot keys set openai`" in err and "OXBOT_OPENAI_API_KEY" in err
    assert _rows(home) == []
    code, _out, err = oxbot("bots", "add", "local", "--strategy", "llm", "--param",
                            "provider=ollama", "--start")
    assert code == 0, err
    assert _rows(home) == [("local", "running")]


def test_llm_key_from_the_environment_is_enough(oxbot, home, monkeypatch) -> None:
    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-cli-test-0123456789")
    code, _out, err = oxbot("bots", "add", "gpt", "--strategy", "llm", "--param",
                            "provider=openai")
    assert code == 0, err
    assert _rows(home) == [("gpt", "stopped")]


def test_budget_without_a_price_is_refused(oxbot, home) -> None:
    code, _out, err = oxbot("bots", "add", "local", "--strategy", "llm", "--param",
                            "provider=ollama", "--param", "model=my-local-model", "--param",
                            "daily_budget_usd=1")
    assert code == 2 and "daily_budget_usd needs the price of model 'my-local-model'" in \
        _one_line(err)
    assert "prices=" in err and _rows(home) == []
    code, _out, err = oxbot("bots", "add", "local", "--strategy", "llm", "--param",
                            "provider=ollama", "--param", "model=my-local-model", "--param",
                            "daily_budget_usd=1", "--param",
                            'prices={"my-local-model": [0.1, 0.2]}')
    assert code == 0, err
