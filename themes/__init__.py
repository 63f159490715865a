"""oxbot's Textual themes and the loader for user themes."""

from typing import Any

from .builtin import BUILTIN_THEMES, DEFAULT_THEME, SEMANTIC_VARIABLES, VARIABLE_DEFAULTS
from .loader import load_user_themes

__all__ = [
    "BUILTIN_THEMES",
    "DEFAULT_THEME",
    "SEMANTIC_VARIABLES",
    "VARIABLE_DEFAULTS",
    "ThemeFile",
    "load_user_themes",
]


def __getattr__(name: str) -> Any:
    """ThemeFile (themes/theme_file.py, pydantic), imported when first asked for."""
    if name == "ThemeFile":
        from .theme_file import ThemeFile  # noqa: PLC0415

        return ThemeFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
