"""engine/, storage/, remote/ and app/ never need Textual or Rich: the headless engine runs
without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(folder: str) -> list[str]:
    names = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT / folder).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        names.append(".".join(["oxbot", folder, *parts]))
    return names


def test_engine_and_storage_import_without_textual_or_rich() -> None:
    """With Textual and Rich made unimportable, every module of engine/, storage/, remote/ and
    app/ still imports, and none of them loads the cockpit. (Blocked rather than looked for in
    sys.modules: httpx imports Rich for its own command line when click happens to be
    installed, which is no need of ours.)"""
    modules = _modules("engine") + _modules("storage") + _modules("remote") + _modules("app")
    assert "oxbot.storage.store" in modules and "oxbot.engine.models" in modules
    code = (
        "import importlib, importlib.abc, json, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('textual', 'rich'):\n"
        "            raise ImportError(f'{name} is blocked by the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('textual', 'rich') or m.startswith('oxbot.tui'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
