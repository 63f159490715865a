"""`oxbot bots add|start` without an engine: a LIVE bot without exchange keys, or an LLM bot
whose provider needs a key that is not set, is refused once, with one line that names
`oxbot keys set <provider>`, and nothing is written (it used to be accepted, then failed every
cycle: 20 toasts and an "error" state with no reason kept). An LLM budget without a price for
the model is refused the same way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


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


def _use_keyring(backend: Any) -> Iterator[Any]:
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[Any]:
    """A working keyring that holds nothing (the in-process double of the Secret Service)."""
    from memory_keyring import MemoryKeyring

    yield from _use_keyring(MemoryKeyring())


@pytest.fixture
def no_keyring() -> Iterator[Any]:
    """No usable keyring, as on a server without a desktop session."""
    from keyring.backends import fail

    yield from _use_keyring(fail.Keyring())


def test_live_bot_without_exchange_keys_is_refused_at_add(oxbot, home, memory_keyring) -> None:
    code, out, err = oxbot(
        "bots", "add", "real", "--exchange", "binance", "--live", "--yes-i-mean-live"
    )
    assert code == 2 and out == ""
    assert _one_line(err).strip() == (
        "oxbot: real needs API keys for binance: run `oxbot keys set binance`"
    )
    assert _rows(home) == []
    code, _out, err = oxbot("bots", "add", "gpt", "--strategy", "llm", "--param", "provider=openai")
    assert code == 2 and _one_line(err).strip() == (
        "oxbot: gpt needs an API key for openai: run `oxbot keys set openai`"
    )


def test_without_a_keyring_the_refusal_names_the_fixes(oxbot, home, no_keyring) -> None:
    code, out, err = oxbot(
        "bots", "add", "real", "--exchange", "binance", "--live", "--yes-i-mean-live"
    )
    assert code == 1 and out == "" and err.startswith("oxbot: real needs API keys for binance")
    assert "The keyring cannot be used here: no usable keyring backend" in err
    assert "`oxbot keys set binance`" in err and "OXBOT_BINANCE_SECRET" in err
    assert _rows(home) == []


def test_live_bot_without_exchange_keys_is_refused_at_start(
    oxbot, home, monkeypatch, no_keyring
) -> None:
    monkeypatch.setenv("OXBOT_BINANCE_API_KEY", "bnk-cli-test-key")
    monkeypatch.setenv("OXBOT_BINANCE_SECRET", "bns-cli-test-secret")
    assert (
        oxbot("bots", "add", "real", "--exchange", "binance", "--live", "--yes-i-mean-live")[0] == 0
    )
    monkeypatch.delenv("OXBOT_BINANCE_API_KEY")
    monkeypatch.delenv("OXBOT_BINANCE_SECRET")
    code, out, err = oxbot("bots", "start", "real")
    # No keyring in the test environment: what this bot needs, then the keyring's fixes.
    assert code == 1 and err.splitlines()[0] == (
        "oxbot: real needs API keys for binance: export OXBOT_BINANCE_API_KEY and "
        "OXBOT_BINANCE_SECRET, or run `oxbot keys set binance` once the keyring works"
    ), err
    assert "no usable keyring backend" in err.splitlines()[1]
    assert "dbus-run-session" in err and "Traceback" not in err
    assert _rows(home) == [("real", "stopped")]


def test_a_live_okx_bot_is_told_every_field_its_key_needs(oxbot, home, no_keyring) -> None:
    """OKX keys have a passphrase (ccxt okx.py requiredCredentials: password True): the message
    once named only the key and the secret, and the next start then failed on the passphrase."""
    code, _out, err = oxbot("bots", "add", "ok", "--exchange", "okx", "--live", "--yes-i-mean-live")
    assert code == 1 and err.splitlines()[0] == (
        "oxbot: ok needs API keys for okx: export OXBOT_OKX_API_KEY and OXBOT_OKX_SECRET and "
        "OXBOT_OKX_PASSPHRASE, or run `oxbot keys set okx` once the keyring works"
    ), err


def test_llm_bot_without_its_key_is_refused_and_a_keyless_one_is_not(
    oxbot, home, no_keyring
) -> None:
    code, _out, err = oxbot(
        "bots", "add", "gpt", "--strategy", "llm", "--param", "provider=openai", "--start"
    )
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[0] == (
        "oxbot: gpt needs an API key for openai: export "
        "OXBOT_OPENAI_API_KEY, or run `oxbot keys set openai` once "
        "the keyring works"
    ), err
    assert _rows(home) == []
    code, _out, err = oxbot(
        "bots", "add", "local", "--strategy", "llm", "--param", "provider=ollama", "--start"
    )
    assert code == 0, err
    assert _rows(home) == [("local", "running")]


def test_llm_key_from_the_environment_is_enough(oxbot, home, monkeypatch) -> None:
    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-cli-test-0123456789")
    code, _out, err = oxbot("bots", "add", "gpt", "--strategy", "llm", "--param", "provider=openai")
    assert code == 0, err
    assert _rows(home) == [("gpt", "stopped")]


def test_budget_without_a_price_is_refused(oxbot, home) -> None:
    code, _out, err = oxbot(
        "bots",
        "add",
        "local",
        "--strategy",
        "llm",
        "--param",
        "provider=ollama",
        "--param",
        "model=my-local-model",
        "--param",
        "daily_budget_usd=1",
    )
    assert code == 2 and "daily_budget_usd needs the price of model 'my-local-model'" in _one_line(
        err
    )
    assert "prices=" in err and _rows(home) == []
    code, _out, err = oxbot(
        "bots",
        "add",
        "local",
        "--strategy",
        "llm",
        "--param",
        "provider=ollama",
        "--param",
        "model=my-local-model",
        "--param",
        "daily_budget_usd=1",
        "--param",
        'prices={"my-local-model": [0.1, 0.2]}',
    )
    assert code == 0, err
