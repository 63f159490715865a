"""`oxbot keys ...` when keys come from the environment and no keyring works: usable keys are
not a failure, a half-set key says which variable is missing, and the words are the user's
(no class names, the right variables, no test providers)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def test_check_passes_with_usable_env_keys_and_notes_the_keyring(
    oxbot, monkeypatch, no_keyring
) -> None:
    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-test-0123456789abcdef")
    code, out, err = oxbot("keys", "check", "--no-network")
    assert code == 0, err
    assert "openai: present (env)" in out
    assert "note: keyring unavailable" in err and "environment" in err
    assert "keyring.backends" not in out + err and "Error" not in out + err


def test_check_without_any_key_and_no_keyring_still_fails(oxbot, no_keyring) -> None:
    code, _out, err = oxbot("keys", "check", "--no-network")
    assert code == 1 and "no usable keyring backend" in err


def test_half_set_env_key_shows_the_missing_field_and_variable(
    oxbot, monkeypatch, no_keyring
) -> None:
    monkeypatch.setenv("OXBOT_BINANCE_API_KEY", "abcdefghijklmnop1234")
    code, out, err = oxbot("keys", "list")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("binance"))
    assert "secret=MISSING" in row and "OXBOT_BINANCE_SECRET" in row
    assert "abcdefghijklmnop1234" not in out  # masked
    code, out, err = oxbot("keys", "check", "--no-network")
    assert code == 1
    assert "binance: not usable" in out and "set OXBOT_BINANCE_SECRET" in out


def test_keyring_help_names_the_variables_of_the_provider_asked(oxbot, no_keyring) -> None:
    code, out, err = oxbot("keys", "set", "openai", "--stdin")
    assert code == 1
    assert "OXBOT_OPENAI_API_KEY" in err and "OXBOT_BINANCE" not in err
    first = err.splitlines()[0]
    assert first == "oxbot: no usable keyring backend was found."  # no class name, one stop
    assert "keyring.backends" not in err


def test_unknown_provider_lists_the_llm_providers_without_the_test_one(oxbot) -> None:
    code, _out, err = oxbot("keys", "delete", "nosuchthing")
    assert code == 2
    for name in ("openai", "anthropic", "openai_compatible", "ollama"):
        assert name in err
    assert "fake" not in err
