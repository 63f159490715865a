"""Fixtures for the CLI tests: `oxbot` run in process through the real parser and error mapping,
in an isolated OXBOT_HOME (short, under /tmp: Unix socket paths must stay short), with no
OXBOT_* variable inherited from the developer's environment."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="oxc-", dir="/tmp"))
    for name in list(os.environ):
        if name.startswith("OXBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OXBOT_HOME", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def oxbot(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``oxbot(*argv)`` → (exit code, stdout, stderr), as a user would see them."""
    from oxbot.cli import main as cli

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as e:  # argparse: --help, usage errors
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def sine_candles(n: int = 240, crash_at: int | None = None) -> pd.DataFrame:  # noqa: F821
    """Hourly candles from 2024-01-01 00:00 UTC oscillating around 100 (an SMA 2/4 cross every
    12 bars); ``crash_at``: from that bar on, prices are halved with a gap at its open."""
    import numpy as np
    import pandas as pd

    ts = 1_704_067_200_000 + np.arange(n, dtype=np.int64) * 3_600_000
    close = 100 + 3 * np.sin(np.arange(n) * 2 * np.pi / 12)
    open_ = np.concatenate(([close[0]], close[:-1]))
    if crash_at is not None:
        close[crash_at:] *= 0.5
        open_[crash_at:] *= 0.5
    return pd.DataFrame(
        {
            "timestamp": ts,
            "open": open_.round(6),
            "close": close.round(6),
            "high": (np.maximum(open_, close) * 1.001).round(6),
            "low": (np.minimum(open_, close) * 0.999).round(6),
            "volume": 1.0,
        }
    )[["timestamp", "open", "high", "low", "close", "volume"]]


@pytest.fixture
def candles_csv(tmp_path: Path) -> Callable[..., Path]:
    """``candles_csv(name, **kw)`` writes sine_candles(**kw) to tmp_path/name."""

    def write(name: str = "sine_BTC-USDT_1h.csv", **kw: object) -> Path:
        path = tmp_path / name
        sine_candles(**kw).to_csv(path, index=False)  # type: ignore[arg-type]
        return path

    return write
