"""Issue 7, end to end as a new user would: API keys stored with `oxbot keys set` in a real
gnome-keyring (inside dbus-run-session, temp HOME) drive a LIVE bot on the fake Binance, which
checks every signature; without a D-Bus session the same start fails, naming the fixes.

The fake exchange runs in this process; the CLI and the engines are child processes. Helper
modules of other test directories are loaded by file path (importlib mode)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

HERE = Path(__file__).resolve().parent
CHILD = HERE / "keyring_live_child.py"
UNLOCK = "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null"
LIVE_BOT, REFUSED_BOT = "keyring-live", "keyring-none"
TIMEOUT_S = 25.0


# The same module key as tests/exchange_e2e/conftest.py: one copy when both dirs run.
sup = load_by_path(
    "_oxbot_exchange_e2e_e2e_support", HERE.parent / "exchange_e2e" / "e2e_support.py"
)


def _oxbot() -> list[str]:
    """The installed console script, as a user runs it; the module when it isn't installed."""
    script = Path(sys.executable).with_name("oxbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oxbot.cli.main"]


def _clean_env(root: Path) -> dict[str, str]:
    """No D-Bus session, no keyring choice, no OXBOT_* keys; HOME and XDG dirs under ``root``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OXBOT_", "DBUS_", "PYTHON_KEYRING", "KEYRING_", "XDG_"))
    }
    for name in ("home", "config", "data", "runtime"):
        (root / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_RUNTIME_DIR=str(root / "runtime"),
        PYTHONIOENCODING="utf-8",
    )
    return env


async def _run(
    argv: list[str], env: dict[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, str, str]:
    """Run ``argv`` in its own process group while this loop keeps serving the fake exchange."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), TIMEOUT_S)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created: the session and its daemons
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _child(mode: str, bot: str, root: Path, fake: Any) -> list[str]:
    return [
        sys.executable,
        str(CHILD),
        mode,
        bot,
        str(root / "oxbot.db"),
        fake.base_url,
        str(fake.clock.wall0),
        str(fake.clock.speed),
        str(root / "locks"),
    ]


async def _inside_dbus(root: Path, fake: Any) -> dict[str, tuple[int, str, str]]:
    """keys set, keys list and a LIVE engine, all in ONE D-Bus session with an unlocked
    gnome-keyring; each command's exit code and output land in files under ``root``."""
    steps = {
        "set": [*_oxbot(), "keys", "set", "binance", "--stdin"],
        "list": [*_oxbot(), "keys", "list"],
        "engine": _child("trade", LIVE_BOT, root, fake),
    }
    script = [UNLOCK]
    for name, argv in steps.items():
        redirect = "" if name == "set" else " </dev/null"  # only `keys set` reads the keys
        script.append(f"{shlex.join(argv)}{redirect} >{name}.out 2>{name}.err; echo $? >{name}.rc")
    # The keys travel on stdin only: never on a command line or in the environment.
    rc, out, err = await _run(
        ["dbus-run-session", "--", "sh", "-c", "; ".join(script)],
        _clean_env(root),
        root,
        stdin=f"{sup.API_KEY}\n{sup.SECRET}\n",
    )
    assert rc == 0, (out, err)
    return {
        name: (
            int((root / f"{name}.rc").read_text() or -1),
            (root / f"{name}.out").read_text(),
            (root / f"{name}.err").read_text(),
        )
        for name in steps
    }


async def _outside_dbus(root: Path, fake: Any) -> dict[str, tuple[int, str, str]]:
    """The same `keys set` and LIVE engine start over a plain SSH-like session: no D-Bus."""
    env = _clean_env(root)
    assert "DBUS_SESSION_BUS_ADDRESS" not in env
    keys = await _run(
        [*_oxbot(), "keys", "set", "binance", "--stdin"],
        env,
        root,
        stdin=f"{sup.API_KEY}\n{sup.SECRET}\n",
    )
    engine = await _run(_child("refuse", REFUSED_BOT, root, fake), env, root)
    return {"set": keys, "engine": engine}


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
    ]


async def test_keyring_keys_drive_a_live_bot_and_no_dbus_is_refused(tmp_path: Path) -> None:
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(t)]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not found: `apt-get install -y dbus gnome-keyring` "
            "to run the keyring + LIVE bot test"
        )
    from oxbot.engine.exchange.broker import bot_prefix
    from oxbot.storage.secrets import mask

    fake = sup.ClockedFake(clock=sup.SpeedClock(speed=600))  # a 1m candle every 0.1 s
    fake.retry_after_s = 0
    fake.stall_s = 0.15
    await fake.start()
    try:
        inside, outside = await asyncio.gather(
            _inside_dbus(tmp_path / "desktop", fake), _outside_dbus(tmp_path / "ssh", fake)
        )
    finally:
        await fake.stop()
    clear = (sup.API_KEY, sup.SECRET)

    # 1. Stored in the keyring, listed masked, never shown in clear.
    rc, out, err = inside["set"]
    assert rc == 0 and "saved binance" in out and "read back: ok" in out, (out, err)
    rc, out, err = inside["list"]
    assert rc == 0, (out, err)
    row = next(line.split() for line in out.splitlines() if line.startswith("binance"))
    assert row == [
        "binance",
        "keyring",
        f"api_key={mask(sup.API_KEY)}",
        f"secret={mask(sup.SECRET)}",
    ], out
    for _rc, out, err in inside.values():
        assert not any(c in out or c in err for c in clear)
    # No file of ours (database, settings) holds a key in clear; gnome-keyring's is encrypted.
    assert _files_containing(tmp_path / "desktop", sup.SECRET.encode()) == []

    # 2. The LIVE engine resolved the key from the keyring and the fake exchange, which checks
    # the key header and every HMAC signature, accepted and filled its orders.
    rc, out, err = inside["engine"]
    assert rc == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["key_source"] == "keyring" and result["errors"] == [], result
    assert result["status"] == "running" and result["fills"] >= 1, result
    filled = {
        o.client_order_id
        for o in fake.orders.values()
        if o.client_order_id.startswith(bot_prefix(LIVE_BOT)) and o.executed > 0
    }
    assert filled and set(result["fill_orders"]) <= filled, (result, fake.orders)
    assert fake.signed_requests()

    # 3. Without D-Bus: `keys set` and the same LIVE start fail naming the fixes; no order.
    rc, out, err = outside["set"]
    assert rc != 0 and "no usable keyring" in err and "dbus-run-session" in err, (out, err)
    assert "saved" not in out
    rc, out, err = outside["engine"]
    assert rc == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "stopped" and result["fills"] == 0, result
    [error] = result["errors"]
    assert error.startswith(
        f"bot {REFUSED_BOT} not resumed: {REFUSED_BOT} needs API keys for binance"
    ), error
    assert "The keyring cannot be used here: no usable keyring backend" in error
    for fix in ("dbus-run-session", "gnome-keyring-daemon --unlock", "OXBOT_BINANCE_API_KEY"):
        assert fix in error
    assert not any(
        o.client_order_id.startswith(bot_prefix(REFUSED_BOT)) for o in fake.orders.values()
    )
    for _rc, out, err in outside.values():
        assert not any(c in out or c in err for c in clear)
