"""Strategies from an installed distribution's `oxbot.strategies` entry points, through real
`oxbot` subprocesses: a temp folder on PYTHONPATH holds a package and its `.dist-info` (what
pip leaves in site-packages); `oxbot strategies list` shows the strategy with its source (the
distribution and the entry point), `oxbot backtest --strategy` runs it, and a broken entry
point (an import error, an object that is not a Strategy) gives one clear message each while
the other strategies still load.

Where the discovery rules were read:
- Python docs, importlib.metadata (https://docs.python.org/3/library/importlib.metadata.html):
  `entry_points(group=...)` selects from every distribution found on sys.path; the default
  finder (`MetadataPathFinder`, "Extending the search algorithm") looks in each sys.path entry
  for `<name>-<version>.dist-info` (or `.egg-info`) directories. PYTHONPATH entries are on
  sys.path (Python docs, "The initialization of the sys.path module search path").
- PyPA specifications, "Recording installed projects" (the `.dist-info` directory, its
  METADATA file with Metadata-Version, Name and Version) and "Entry points specification"
  (entry_points.txt in that directory, INI format: `[group]` then `name = module:attr`).
What the tests rely on from oxbot: engine/strategies/loader.py `_load_entry_points` names the
source `package <dist> (<entry point value>)`; cli/strategies.py prints `did not load: ...` on
stderr for each failure and lists `{"strategies": [...], "failed": [...]}` with --json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path("/work/shared/data/ohlcv/binance_BTC-USDT_1h.csv")  # as test_e2e_leaks.py

ACME = """
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class AcmeParams(StrategyParams):
    fast: int = Field(3, ge=2, le=50, description="fast SMA")
    slow: int = Field(8, ge=3, le=200, description="slow SMA")

class AcmeTrend(Strategy):
    name = "acme_trend"
    Params = AcmeParams
    description = "SMA cross, from an installed package"
    def indicators(self):
        return [SMA(self.params.fast), SMA(self.params.slow)]
    def signals(self, frame):
        p = self.params
        return cross_signals(frame[f"sma_{p.fast}"].to_numpy(float),
                             frame[f"sma_{p.slow}"].to_numpy(float))

NOT_A_STRATEGY = 42
"""


def distribution(site: Path, name: str, entry_points: str, package: str | None = None) -> None:
    """What an installer leaves in site-packages: the package and its .dist-info."""
    if package is not None:
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(package)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_an_installed_package_lists_backtests_and_a_broken_one_says_why(home) -> None:
    site = home.root / "site"
    site.mkdir()
    distribution(
        site, "acme_strats", "[oxbot.strategies]\nacme_trend = acme_strats:AcmeTrend\n", ACME
    )
    distribution(
        site,
        "broken_strats",
        "[oxbot.strategies]\n"
        "gone = broken_strats_missing:Thing\n"  # the module is not there
        "answer = acme_strats:NOT_A_STRATEGY\n",  # not a Strategy (nor a module)
    )
    env = {**home.env, "PYTHONPATH": os.pathsep.join([str(site), home.env.get("PYTHONPATH", "")])}

    r = home.cli("strategies", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    names = {s["name"]: s for s in listed["strategies"]}
    assert names["acme_trend"]["source"] == "package acme_strats (acme_strats:AcmeTrend)"
    fast = next(p for p in names["acme_trend"]["params"] if p["name"] == "fast")
    assert (fast["default"], fast["ge"], fast["le"]) == (3, 2, 50)
    assert {"sma_cross", "ema_atr_trend"} <= set(names)  # the others still load
    errors = {f["source"]: f["error"] for f in listed["failed"]}
    assert set(errors) == {
        "package broken_strats (broken_strats_missing:Thing)",
        "package broken_strats (acme_strats:NOT_A_STRATEGY)",
    }
    gone = errors["package broken_strats (broken_strats_missing:Thing)"]
    assert "ModuleNotFoundError" in gone and "broken_strats_missing" in gone
    answer = errors["package broken_strats (acme_strats:NOT_A_STRATEGY)"]
    assert "must name a Strategy subclass or a module" in answer

    text = home.cli("strategies", "list", env=env)
    assert text.returncode == 0
    assert "acme_trend  (package acme_strats (acme_strats:AcmeTrend))" in text.stdout
    said = [line for line in text.stderr.splitlines() if line.startswith("did not load:")]
    assert len(said) == 2 and "Traceback" not in text.stderr  # one line per broken entry point

    if not DATA.exists():
        pytest.skip(f"no market data at {DATA}")
    csv = DATA
    r = home.cli(
        "backtest", "--strategy", "acme_trend", "--data", str(csv), "--no-risk", "--json", env=env
    )
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["trades"] > 0 and metrics["params"] == {"fast": 3, "slow": 8}

    # without the folder on the path, the same name is unknown: it came from the package
    r = home.cli("backtest", "--strategy", "acme_trend", "--data", str(csv), "--no-risk")
    assert r.returncode == 2 and "unknown strategy 'acme_trend'" in r.stderr
