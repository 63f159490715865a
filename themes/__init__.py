"""oxbot's Textual themes and the loader for user themes."""

from .builtin import BUILTIN_THEMES, DEFAULT_THEME, SEMANTIC_VARIABLES, VARIABLE_DEFAULTS
from .loader import ThemeFile, load_user_themes

__all__ = [
    "BUILTIN_THEMES",
    "DEFAULT_THEME",
    "SEMANTIC_VARIABLES",
    "VARIABLE_DEFAULTS",
    "ThemeFile",
    "load_user_themes",
]
