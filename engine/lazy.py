"""numpy imported on first use (issue 13 start-up): ``oxbot bots add`` builds a strategy's
parameters and reads its warm-up, and loads the strategy modules for it, but never computes an
array. Those modules write::

    if TYPE_CHECKING:
        import numpy as np
    else:
        from oxbot.engine.lazy import numpy as np

The first attribute read imports numpy; each attribute, once read, is kept on the proxy, so
later reads cost an instance lookup (a module's own is a dict lookup too)."""

from __future__ import annotations

import importlib
from typing import Any


class _Lazy:
    def __init__(self, name: str) -> None:
        self.__name = name

    def __getattr__(self, attr: str) -> Any:  # only for attributes not kept yet
        value = getattr(importlib.import_module(self.__name), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__name!r}>"


numpy = _Lazy("numpy")
