"""Fixtures for the secrets tests: a real Secret Service (gnome-keyring inside dbus-run-session),
a no-backend environment, and misbehaving keyring backends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from module_loading import load_by_path

HERE = Path(__file__).resolve().parent
SUPPORT = HERE.parent / "support"  # the shared helpers (memory_keyring) for subprocesses too
OXBOT = [sys.executable, "-m", "oxbot.cli.main"]
# What CI needs: `apt-get install -y dbus gnome-keyring`.
# The daemon registers org.freedesktop.secrets on the session bus a moment after it returns; on a
# loaded machine (three test workers on two cores) a command could start before that. So wait
# (at most 10 s) until the bus says the name has an owner, as the D-Bus specification's
# NameHasOwner answers it.
UNLOCK = (
    "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "
    "i=0; while command -v dbus-send >/dev/null && [ $i -lt 100 ] && ! dbus-send --session "
    "--print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus "
    "org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null "
    '| grep -q "boolean true"; do i=$((i+1)); sleep 0.1; done'
)


def _load_fakes() -> ModuleType:
    return load_by_path("secrets_fake_keyrings", HERE / "secrets_fake_keyrings.py")


@pytest.fixture
def fakes() -> ModuleType:
    """The module of misbehaving keyring backends."""
    return _load_fakes()


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no D-Bus session, no keyring choice and no OXBOT_* keys.

    HOME, XDG dirs point into tmp_path so no user keyring config or file is touched.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OXBOT_", "DBUS_", "PYTHON_KEYRING", "KEYRING_", "XDG_"))
    }
    for name in ("home", "config", "data", "runtime"):
        (tmp_path / name).mkdir(exist_ok=True, mode=0o700)
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
        PYTHONPATH=os.pathsep.join([str(HERE), str(SUPPORT), env.get("PYTHONPATH", "")]).rstrip(
            ":"
        ),
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


@pytest.fixture
def no_backend_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def secret_service(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a shell command inside a fresh D-Bus session with an unlocked gnome-keyring.

    Each call gets its own session; the keyring file lives under tmp_path/data (fresh per test).
    """
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(t)]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not found: `apt-get install -y dbus gnome-keyring` "
            "to run the real Secret Service tests"
        )

    def run(
        command: str, stdin: str = "", timeout: float = 60, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        env = clean_env(tmp_path, **extra)
        return subprocess.run(
            ["dbus-run-session", "--", "sh", "-c", f"{UNLOCK}; {command}"],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=tmp_path,
        )

    return run


@pytest.fixture
def memory_keyring(fakes: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An in-process working keyring, no OXBOT_* variables, and the deadline state reset."""
    import keyring.core

    from oxbot.storage import secrets

    for name in list(os.environ):
        if name.startswith("OXBOT_"):
            monkeypatch.delenv(name)
    previous = keyring.core._keyring_backend
    backend = fakes.MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(secrets, "_stuck", None)
    yield backend
    keyring.core._keyring_backend = previous


def python_cmd() -> str:
    return sys.executable


@pytest.fixture
def env_for(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``env_for(**extra)``: clean_env under this test's tmp_path, plus ``extra``."""
    return lambda **extra: clean_env(tmp_path, **extra)


@pytest.fixture
def run_oxbot() -> Callable[..., tuple[subprocess.CompletedProcess[str], float]]:
    """``run_oxbot(args, env, stdin="")`` -> (completed process, seconds it took)."""
    import time

    def run(
        args: list[str],
        env: dict[str, str],
        stdin: str = "",
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = subprocess.run(
            [*OXBOT, *args], input=stdin, capture_output=True, text=True, env=env, timeout=30
        )
        return result, time.monotonic() - started

    return run
