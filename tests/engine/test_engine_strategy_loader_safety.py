"""The loader's refusals and its state in a long-running process, through its public API
(engine/strategies/loader.py `discover`, `FAILURES`; engine/strategies `strategy_class`).

What the tests rely on: `discover(folder, entry_points=False)` loads every ``*.py`` of the
folder not named ``_*``/``test_*`` and records a failing file in `FAILURES` by its path
(loader.py docstring); `strategy_class(name)` raises ConfigError with the file's message for a
name whose file did not load (engine/strategies/__init__.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oxbot.engine.strategies import loader

HEAD = """import numpy as np
from oxbot.engine.strategies import Strategy
"""
CLASS = """class {cls}(Strategy):
    name = "{name}"
    def signals(self, frame):
        return np.zeros(len(frame), dtype=np.int8)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "strategies"
    d.mkdir()
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


def test_two_classes_with_one_name_in_a_file_are_refused_naming_both_lines(folder) -> None:
    path = folder / "two.py"
    path.write_text(HEAD + CLASS.format(cls="A", name="twin") + CLASS.format(cls="B", name="twin"))
    loader.discover(folder, entry_points=False)
    failure = loader.FAILURES[str(path)]
    assert f"{path}:7: B and A (line 3) are both named 'twin'" in failure.message
    from oxbot.engine.errors import ConfigError
    from oxbot.engine.strategies import strategy_class

    with pytest.raises(ConfigError, match="both named 'twin'"):
        strategy_class("twin")


def test_a_name_clash_ends_when_the_first_file_is_deleted(folder) -> None:
    (folder / "dup1.py").write_text(HEAD + CLASS.format(cls="S", name="dupe"))
    (folder / "dup2.py").write_text(HEAD + CLASS.format(cls="S", name="dupe"))
    loader.discover(folder, entry_points=False)
    assert "already used by" in loader.FAILURES[str(folder / "dup2.py")].message
    (folder / "dup1.py").unlink()
    loader.discover(folder, entry_points=False)
    assert str(folder / "dup2.py") not in loader.FAILURES
    from oxbot.engine.strategies import strategy_class

    assert strategy_class("dupe").__module__.endswith("dup2")
