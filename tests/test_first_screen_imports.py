"""What the cockpit imports before its first frame (bench/RESULTS.md, "First screen"): no
pydantic when the settings file is plain and there are no theme files, and no sub-command
modules (cli/commands.py) for plain `oxbot`, whose arguments are those of the full parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oxbot.cli.main import _plain_cockpit_args, build_parser

PROBE = """
import json, sys
import oxbot.cli.main as cli
assert cli._plain_cockpit_args([]) is not None
from oxbot.cli import tui
settings, notices = tui._settings()
from oxbot.app import inprocess
from oxbot.remote import client
from oxbot.tui import app
from oxbot.tui.settings_bridge import SettingsBridge
from oxbot.themes import load_user_themes
themes, warnings = load_user_themes(SettingsBridge(settings).themes_dir)
print(json.dumps([settings.theme, notices, len(themes), sorted(sys.modules)]))
"""


def _run(home: Path) -> tuple[str, list[str], int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "OXBOT_HOME": str(home)},
    )
    theme, notices, themes, modules = json.loads(out.stdout.strip().splitlines()[-1])
    return theme, notices, themes, set(modules)


def test_a_plain_start_loads_no_pydantic_and_no_backtest_api(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "themes").mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"theme": "nord"}), encoding="utf-8")
    theme, notices, themes, modules = _run(tmp_path)
    assert (theme, notices, themes) == ("nord", [], 0)
    assert "pydantic" not in modules and "oxbot.cli.commands" not in modules
    # rich.pretty (the Fills log's RichLog) without attrs: tui/rich_pretty.py
    assert "rich.pretty" in modules and "attr" not in modules
    assert "tomllib" not in modules  # read only with a theme file (themes/loader.py)


ATTRS_PROBE = """
import json, sys
import oxbot.tui.app
import rich.pretty
hidden = "attr" not in sys.modules and not rich.pretty._has_attrs
import attr  # anything after the cockpit's imports (aiohttp under ccxt) still gets attrs
print(json.dumps([hidden, hasattr(attr, "define"), str(rich.pretty.pretty_repr({"a": 1}))]))
"""


def test_rich_pretty_loads_without_attrs_which_stays_importable() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ATTRS_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, "{'a': 1}"]


@pytest.mark.parametrize(
    "argv",
    [[], ["--demo"], ["--de"], ["--db", "bots"], ["--db=x.db", "--create"], ["--cr", "--demo"]],
)
def test_plain_oxbot_is_read_as_the_full_parser_reads_it(argv: list[str]) -> None:
    plain = _plain_cockpit_args(argv)
    assert plain is not None and vars(plain) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["--d"],
        ["--db"],
        ["--h"],
        ["-h"],
        ["--version"],
        ["bots"],
        ["--", "x"],
        ["--demo", "attach"],
    ],
)
def test_anything_else_goes_to_the_full_parser(argv: list[str]) -> None:
    assert _plain_cockpit_args(argv) is None


def test_a_theme_file_or_a_bad_setting_still_goes_through_the_models(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "themes").mkdir(parents=True)
    (config / "themes" / "mine.toml").write_text(
        'name = "mine"\nprimary = "#112233"\n', encoding="utf-8"
    )
    (config / "settings.json").write_text(json.dumps({"resume_bots": "maybe"}), encoding="utf-8")
    theme, notices, themes, modules = _run(tmp_path)
    assert theme == "oxbot-dark" and themes == 1 and "pydantic" in modules
    assert len(notices) == 1 and "resume_bots: Input should be a valid boolean" in notices[0]


ENGINE_PROBE = """
import asyncio, json, sys
from pathlib import Path

async def main(db):
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.engine.messages import Shutdown

    opts = RuntimeOptions(db_path=db, sim=SimConfig(speed=1.0), offer_demo=True, price_table={})
    engine = await build_engine(opts)
    run = asyncio.create_task(engine.run())
    await asyncio.wait({run, asyncio.create_task(engine.ready.wait())},
                       return_when=asyncio.FIRST_COMPLETED)
    names = sorted(b.name for b in engine.snapshot().bots)
    seen = "pandas" in sys.modules
    engine.submit(Shutdown())
    await run
    await engine.store.close()
    return names, seen

names, seen = asyncio.run(main(Path(sys.argv[1])))
print(json.dumps([names, seen]))
"""


def test_the_engine_reaches_its_first_snapshot_without_pandas(tmp_path: Path) -> None:
    """What the cockpit's engine thread does after the first frame (cli/tui.py ``build``): the
    store, the stored bots (the three demo bots, the LLM one among them) and the first snapshot
    need no pandas; a frame is built, and pandas imported, when a strategy first reads one."""
    db = tmp_path / "oxbot.db"
    env = {**os.environ, "OXBOT_HOME": str(tmp_path)}
    for _ in range(2):  # the first run creates the database and the demo bots
        out = subprocess.run(
            [sys.executable, "-c", ENGINE_PROBE, str(db)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env=env,
        )
        names, pandas_loaded = json.loads(out.stdout.strip().splitlines()[-1])
        assert len(names) == 3 and not pandas_loaded, (names, pandas_loaded)
