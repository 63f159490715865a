"""No usable keyring (a plain SSH session: no D-Bus) and a keyring that never answers: the user
gets one clear message naming the fixes, quickly, with a non-zero exit and no traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

Env = Callable[..., dict[str, str]]
Run = Callable[..., Any]

KEY, SECRET = "AbCdEfGh0123456789KEYKEY", "ZyXwVu9876543210SECRETSECRET"
FIXES = (
    "dbus-run-session",
    "gnome-keyring-daemon --unlock",
    "pip install 'oxbot[cryptfile]'",
    "PYTHON_KEYRING_BACKEND",
    "OXBOT_BINANCE_API_KEY",
)
# Time is judged against the same command's own start-up (`oxbot keys --help`, measured in the
# same test): what matters is that oxbot gives up instead of waiting on D-Bus's own 25 s timeout,
# and on a loaded machine the interpreter's start-up alone can take seconds.
# What these catch is a wait of D-Bus's 25 s or for ever; the bounds leave room for a loaded
# 2-core machine: three workers running this file at once (load 6) took 5.8 s beyond start-up
# for a refusal (keyring's backends imported) and 12.5 s for the hanging keyring.
PROMPT_S = 10.0  # beyond start-up, for a refusal that needs no waiting
HANGING_S = 4.0 + 15.0  # beyond start-up, for the 4 s the keyring is given, plus slack


def startup_s(env: dict[str, str], run_oxbot: Run) -> float:
    return run_oxbot(["keys", "--help"], env)[1]


def test_keys_set_without_dbus_gives_the_fixes_at_once_10_times(
    env_for: Env, run_oxbot: Run
) -> None:
    env = env_for()  # no DBUS_SESSION_BUS_ADDRESS, no PYTHON_KEYRING_BACKEND
    for attempt in range(10):
        base = startup_s(env, run_oxbot)
        result, elapsed = run_oxbot(
            ["keys", "set", "binance", "--stdin"], env, stdin=f"{KEY}\n{SECRET}\n"
        )
        assert elapsed - base < PROMPT_S, (
            f"attempt {attempt}: {elapsed:.2f} s, start-up {base:.2f} s"
        )
        assert result.returncode == 1, result.stderr
        assert "no usable keyring backend" in result.stderr
        for fix in FIXES:
            assert fix in result.stderr
        assert "Traceback" not in result.stderr
        assert KEY not in result.stdout + result.stderr
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_an_explicitly_chosen_useless_backend_is_refused(
    env_for: Env, run_oxbot: Run, backend: str
) -> None:
    env = env_for(PYTHON_KEYRING_BACKEND=backend)
    base = startup_s(env, run_oxbot)
    result, elapsed = run_oxbot(
        ["keys", "set", "binance", "--stdin"], env, stdin=f"{KEY}\n{SECRET}\n"
    )
    assert elapsed - base < PROMPT_S, f"{elapsed:.2f} s, start-up {base:.2f} s"
    assert result.returncode == 1
    assert "no usable keyring backend was found" in result.stderr
    assert backend not in result.stderr  # no class names for users
    assert "dbus-run-session" in result.stderr


def test_a_keyring_that_never_answers_is_given_up_after_4s(env_for: Env, run_oxbot: Run) -> None:
    env = env_for(PYTHON_KEYRING_BACKEND="secrets_fake_keyrings.HangingKeyring")
    base = startup_s(env, run_oxbot)
    result, elapsed = run_oxbot(
        ["keys", "set", "openai", "--stdin"], env, stdin="sk-abcdefghijklmnopqrstuvwx\n"
    )
    assert elapsed - base < HANGING_S, f"{elapsed:.2f} s, start-up {base:.2f} s"
    assert result.returncode == 1
    assert "did not answer within 4 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_keys_are_listed_and_checked_without_keyring(env_for: Env, run_oxbot: Run) -> None:
    env = env_for(
        OXBOT_BINANCE_API_KEY=KEY,
        OXBOT_BINANCE_SECRET=SECRET,
        OXBOT_OPENAI_API_KEY="sk-proj-envenvenvenvenvenv9z8y",
    )
    result, _ = run_oxbot(["keys", "list"], env)
    assert "binance   env       api_key=…YKEY  secret=…CRET" in result.stdout
    assert "openai    env       api_key=sk-proj-…9z8y" in result.stdout
    assert result.returncode == 0  # environment keys work without a keyring ...
    assert "keyring unavailable" in result.stderr  # ... and the note says what does not
    check, _ = run_oxbot(["keys", "check", "--no-network"], env)
    assert "keyring backend: none usable" in check.stdout
    assert "binance: present (env)" in check.stdout
    assert KEY not in check.stdout + check.stderr + result.stdout + result.stderr


def test_unknown_provider_and_bad_stdin_are_usage_errors(env_for: Env, run_oxbot: Run) -> None:
    env = env_for(PYTHON_KEYRING_BACKEND="secrets_fake_keyrings.MemoryKeyring")
    result, _ = run_oxbot(["keys", "set", "notanexchange", "--stdin"], env)
    assert result.returncode == 2
    assert "unknown provider 'notanexchange'" in result.stderr
    assert "binance" in result.stderr  # says what would be valid
    short, _ = run_oxbot(["keys", "set", "okx", "--stdin"], env, stdin="only-one-line\n")
    assert short.returncode == 2
    assert "--stdin expects 3 lines (api_key, secret, passphrase), got 1" in short.stderr
    assert "only-one-line" not in short.stderr
    keyless, _ = run_oxbot(["keys", "set", "ollama", "--stdin"], env)
    assert keyless.returncode == 0 and "ollama needs no key" in keyless.stdout


def test_importing_the_keys_command_stays_cheap() -> None:
    code = (
        "import sys; import oxbot.cli.keys; "
        "print(sorted(m for m in ('keyring', 'ccxt', 'oxbot.storage.secrets') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
