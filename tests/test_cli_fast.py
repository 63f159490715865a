"""`oxbot --help`, `--version` and `doctor` stay fast: the CLI imports no ccxt, pandas,
pandas-ta, Textual or SQLAlchemy until a command needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("ccxt", "pandas", "pandas_ta", "numpy", "textual", "sqlalchemy", "keyring")


def _loaded_after(code: str) -> set[str]:
    probe = (
        code + "\nimport json, sys\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_and_building_the_parser_loads_nothing_heavy() -> None:
    loaded = _loaded_after("import oxbot.cli.main as c; c.build_parser()")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_version_help_and_doctor_work(tmp_path: Path) -> None:
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "oxbot.cli.main"]
    version = subprocess.run(
        [*run, "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("oxbot ")
    helptext = subprocess.run([*run, "--help"], capture_output=True, text=True, env=env, timeout=60)
    for command in ("bots", "run", "attach", "backtest", "keys", "doctor", "status", "stop"):
        assert command in helptext.stdout
    doctor = subprocess.run([*run, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert doctor.returncode == 0, doctor.stderr
    for label in ("python", "database", "schema", "keyring", "terminal"):
        assert any(line.startswith(label) for line in doctor.stdout.splitlines()), label
    assert str(tmp_path) in doctor.stdout
    assert "Traceback" not in doctor.stderr


def test_doctor_reports_the_schema_version(tmp_path: Path) -> None:
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    db = tmp_path / "x.db"
    add = subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "--db", str(db), "bots", "add", "a"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert add.returncode == 0, add.stderr
    doctor = subprocess.run(
        [sys.executable, "-m", "oxbot.cli.main", "--db", str(db), "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    from oxbot.storage.migrations import latest_version

    assert f"schema version {latest_version()}" in doctor.stdout


def test_doctor_warns_when_columns_and_lines_pin_the_size(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["OXBOT_HOME"] = str(tmp_path)
    run = [sys.executable, "-m", "oxbot.cli.main", "doctor"]
    clean = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert "COLUMNS" not in clean.stdout
    pinned = subprocess.run(
        run, capture_output=True, text=True, timeout=60, env={**env, "COLUMNS": "80", "LINES": "24"}
    )
    line = next(x for x in pinned.stdout.splitlines() if x.startswith("terminal"))
    assert "COLUMNS=80 LINES=24" in line and "unset COLUMNS LINES" in line


def test_the_cockpit_without_a_terminal_says_so_and_touches_nothing(tmp_path: Path) -> None:
    """`oxbot | head` used to spin on the closed pipe, deaf to ctrl+c and SIGTERM."""
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    db = tmp_path / "x.db"
    for argv in ([], ["attach"]):
        out = subprocess.run(
            [sys.executable, "-m", "oxbot.cli.main", "--db", str(db), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode != 0
        assert "the cockpit needs a terminal" in out.stderr and "--headless" in out.stderr
        assert "Traceback" not in out.stderr
    assert not db.exists()


def test_no_warning_noise_without_xdg_runtime_dir(tmp_path: Path) -> None:
    """Over su, some SSH sessions and in containers XDG_RUNTIME_DIR is unset: platformdirs'
    fallback is fine, but its warning was printed on every command."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "OXBOT_HOME")}
    env["HOME"] = str(tmp_path)  # the data and config directories land here
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-m",
            "oxbot.cli.main",
            "--db",
            str(tmp_path / "x.db"),
            "status",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "no oxbot engine is running" in out.stderr
    assert "Warning" not in out.stderr, out.stderr


def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module name (dotted, not just the top package) loaded after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _any(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


def test_the_cockpit_up_to_its_first_screen_loads_no_pandas_numba_or_ccxt() -> None:
    """cli/tui.py's handler imports oxbot.tui.app, whose screens reach the strategy registry
    (which loads pandas) only when a form or the backtest screen is opened."""
    loaded = _modules_after("import oxbot.cli.tui, oxbot.tui.app")
    assert "oxbot.tui.app" in loaded and "textual.app" in loaded
    assert not _any(loaded, ("pandas", "pandas_ta", "numba", "ccxt", "oxbot.engine.llm")), _any(
        loaded, ("pandas", "pandas_ta", "numba", "ccxt", "oxbot.engine.llm")
    )


def test_the_strategy_registry_loads_the_llm_stack_only_when_asked_for() -> None:
    loaded = _modules_after(
        "from oxbot.engine.strategies import REGISTRY\nassert 'llm' in sorted(REGISTRY)"
    )
    assert not _any(loaded, ("oxbot.engine.llm", "httpx"))
    asked = _modules_after(
        "from oxbot.engine.strategies import strategy_class\nstrategy_class('llm')"
    )
    assert "oxbot.engine.llm.strategy" in asked


def test_an_sma_cross_backtest_never_loads_the_llm_stack_ccxt_pandas_ta_or_numba(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "BTC-USDT_1h.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(200):  # a zigzag, so the SMAs cross
        price = 100 + (i % 40 if i % 80 < 40 else 40 - i % 40)
        rows.append(
            f"{1_600_000_000_000 + i * 3_600_000},{price},{price + 1},{price - 1},{price},1"
        )
    csv.write_text("\n".join(rows) + "\n")
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    argv = ["backtest", "--strategy", "sma_cross", "--data", str(csv), "--no-risk", "--json"]
    loaded = _modules_after(f"import oxbot.cli.main as c\nassert c.main({argv!r}) == 0", env=env)
    assert "oxbot.engine.backtest.runner" in loaded  # the backtest really ran
    # the indicators come from engine/market/kernels.py: no pandas-ta, so no numba either;
    # asyncio only with --since/--until (engine/backtest/history.py) or --exchange
    needless = ("oxbot.engine.llm", "httpx", "ccxt", "textual", "sqlalchemy", "pandas_ta", "numba")
    needless += ("asyncio",)
    # the engine's event types (~120 dataclasses) are the live engine's, not a backtest's
    needless += ("oxbot.engine.messages",)
    assert not _any(loaded, needless), _any(loaded, needless)


def test_help_and_bots_list_load_only_what_they_need(tmp_path: Path) -> None:
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    helped = _modules_after(
        "import oxbot.cli.main as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass",
        env=env,
    )
    needless = ("asyncio", "sqlite3", *HEAVY, "oxbot.storage", "oxbot.engine.models")
    assert not _any(helped, needless), _any(helped, needless)
    listed = _modules_after(
        f"import oxbot.cli.main as c\nc.main(['--db', {str(tmp_path / 'x.db')!r}, '--create', "
        "'bots', 'list'])",
        env=env,
    )
    assert _any(listed, ("oxbot.storage",))  # it really read the database
    heavy = ("pandas", "pandas_ta", "numba", "ccxt", "textual", "oxbot.engine.llm", "httpx")
    assert not _any(listed, heavy), _any(listed, heavy)
