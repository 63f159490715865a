"""Load a helper module of a test folder by its path, once (pytest's importlib mode cannot
import test folders as packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_by_path(key: str, path: Path) -> ModuleType:
    """The module at ``path``, registered in ``sys.modules`` as ``key`` on first use."""
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
