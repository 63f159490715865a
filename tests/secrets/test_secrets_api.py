"""storage.secrets in-process, over keyring backends that work, forget, leak or hang."""

from __future__ import annotations

import threading
import time
import traceback
from types import ModuleType
from typing import Any

import keyring
import pytest
from waiting import wait_until

from oxbot.engine.errors import SecretsError, UsageError
from oxbot.storage import secrets

KEY = "k3yK3yK3yK3yK3yK3yK3y-9f8e"
SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-7d6c"


def test_save_read_list_delete(memory_keyring: Any) -> None:
    backend = secrets.set_secret("Binance", {"api_key": f" {KEY}\n", "secret": SECRET})
    assert backend.endswith("MemoryKeyring")
    assert secrets.load_secret("binance") == (
        "binance",
        "keyring",
        {"api_key": KEY, "secret": SECRET},
    )
    # one JSON entry per provider, plus the index the keyring cannot give us
    assert set(memory_keyring.store) == {("oxbot", "binance"), ("oxbot", "__index__")}
    assert secrets.list_secrets() == [
        ("binance", "keyring", {"api_key": "…9f8e", "secret": "…7d6c"}, True)
    ]
    assert secrets.delete_secret("binance") is True
    assert secrets.get_secret("binance") is None
    assert secrets.list_secrets() == []


def test_environment_wins_and_is_reported(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets.set_secret("openai", {"api_key": "sk-keyringkeyringkeyring1111"})
    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-environmentenvironment2222")
    assert secrets.load_secret("openai") == (
        "openai",
        "env",
        {"api_key": "sk-environmentenvironment2222"},
    )
    assert secrets.key_resolver()("openai") == "sk-environmentenvironment2222"
    rows = {(e.source, e.in_use) for e in secrets.list_secrets()}
    assert rows == {("env", True), ("keyring", False)}


def test_half_set_environment_is_an_error_naming_both_variables(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OXBOT_KUCOIN_API_KEY", KEY)
    with pytest.raises(SecretsError) as e:
        secrets.get_secret("kucoin")
    assert (
        "OXBOT_KUCOIN_API_KEY is set but OXBOT_KUCOIN_SECRET, OXBOT_KUCOIN_PASSPHRASE is not"
    ) in str(e.value)
    assert KEY not in str(e.value)


@pytest.mark.parametrize(
    ("provider", "fields"),
    [
        ("binance", ("api_key", "secret")),
        ("okx", ("api_key", "secret", "passphrase")),
        ("hyperliquid", ("api_key", "secret", "passphrase")),  # any ccxt id; passphrase optional
        ("deepseek", ("api_key",)),
        ("ollama", ()),
        # names `oxbot keys` accepted before the provider table: keys stored under them must
        # stay listable and deletable
        ("groq", ("api_key",)),
        ("google", ("api_key",)),
        ("lmstudio", ()),
    ],
)
def test_provider_fields(provider: str, fields: tuple[str, ...]) -> None:
    assert tuple(f.name for f in secrets.provider_spec(provider).fields) == fields


def test_bad_input_is_a_usage_error_and_saves_nothing(memory_keyring: Any) -> None:
    with pytest.raises(UsageError, match="unknown provider 'binanse'"):
        secrets.set_secret("binanse", {"api_key": KEY})
    with pytest.raises(UsageError, match="okx needs passphrase; nothing was saved"):
        secrets.set_secret("okx", {"api_key": KEY, "secret": SECRET})
    with pytest.raises(UsageError, match="openai has no field secret"):
        secrets.set_secret("openai", {"api_key": KEY, "secret": SECRET})
    assert memory_keyring.store == {}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "abcdefgh",
        "sk-abc",
        "x" * 15,
        "y" * 64,
        "sk-proj-" + "z" * 40,
        "sk-ant-api03-" + "q" * 30 + "WXYZ",
    ],
)
def test_mask_never_shows_more_than_four_secret_characters(value: str) -> None:
    shown = secrets.mask(value)
    prefix = next((p for p in ("sk-ant-", "sk-proj-", "sk-") if shown.startswith(p)), "")
    assert len(shown.replace(prefix, "", 1).replace("…", "")) <= 4
    assert value == "" or shown != value
    if len(value) >= 24:
        assert shown.endswith(value[-4:])


def test_a_backend_that_pretends_to_save_is_not_trusted(
    fakes: ModuleType, memory_keyring: Any
) -> None:
    keyring.set_keyring(fakes.ForgetfulKeyring())
    with pytest.raises(SecretsError, match="reading it back did not return it"):
        secrets.set_secret("binance", {"api_key": KEY, "secret": SECRET})


def test_a_failing_save_never_puts_the_key_in_the_exception(
    fakes: ModuleType, memory_keyring: Any
) -> None:
    keyring.set_keyring(fakes.LeakyFailingKeyring())
    with pytest.raises(SecretsError) as caught:
        secrets.set_secret("binance", {"api_key": KEY, "secret": SECRET})
    text = "".join(traceback.format_exception(caught.value))
    assert "the keyring failed to answer" in text and "RuntimeError" not in text
    assert KEY not in text and SECRET not in text
    assert KEY not in repr(caught.value.args)


def test_a_hanging_keyring_gives_up_at_the_deadline(
    fakes: ModuleType, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "DEADLINE", 0.3)
    keyring.set_keyring(fakes.HangingKeyring())
    fakes.RELEASE.clear()
    try:
        started = time.monotonic()
        with pytest.raises(SecretsError, match="did not answer within 0.3 s"):
            secrets.get_secret("openai")
        assert time.monotonic() - started < 1.0
        started = time.monotonic()  # no second stuck thread: the next call fails at once
        with pytest.raises(SecretsError, match="an earlier keyring call is still stuck"):
            secrets.list_secrets()
        assert time.monotonic() - started < 0.1
        assert [t.name for t in threading.enumerate()].count("oxbot-keyring") == 1
    finally:
        fakes.RELEASE.set()
    wait_until(
        lambda: "oxbot-keyring" not in [t.name for t in threading.enumerate()],
        5,
        "the stuck keyring call to return",
    )
    keyring.set_keyring(memory_keyring)
    assert secrets.get_secret("openai") is None  # recovered once the stuck call returned


def test_loaded_secrets_are_registered_for_log_redaction(memory_keyring: Any) -> None:
    from oxbot.storage.redact import redact

    memory_keyring.store[("oxbot", "openai")] = '{"api_key": "sk-registered-0123456789"}'
    assert secrets.get_secret("openai") == {"api_key": "sk-registered-0123456789"}
    assert redact("calling with sk-registered-0123456789") == "calling with [redacted]"
