"""The schema of a user theme file (themes/loader.py reads the files).

Kept apart so that the cockpit's start, with no theme files to read, does not import pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet
from textual.theme import Theme


def _check_colour(value: str) -> str:
    if value.startswith("ansi_"):
        return value
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{value!r} is not a colour (use #RRGGBB, rgb(...) or a name)") from None
    return value


def _check_css_value(name: str, value: str) -> None:
    """A variable's value is pasted into the stylesheet wherever ``$name`` is used: a value
    Textual's own parser refuses (``rgb(1,2``) would break the whole stylesheet and end the
    app, in-process engine included. Parse it once here, where it is a style (names ending in
    "style") or a colour (everything else Textual and oxbot define)."""
    if any(c in value for c in ";{}\n"):
        raise ValueError(f"{name}: {value!r} must be one value (no ';', braces or newlines)")
    prop = "text-style" if name.endswith("style") else "color"
    sheet = Stylesheet()
    sheet.add_source(f"Widget {{ {prop}: {value}; }}")
    try:
        sheet.parse()
    except Exception:  # noqa: BLE001 - Textual raises several error types here
        kind = (
            "a text style such as 'bold'"
            if prop == "text-style"
            else "a colour such as #RRGGBB, rgb(r,g,b) or 'auto 87%'"
        )
        raise ValueError(f"{name}: {value!r} is not {kind}") from None


class ThemeFile(BaseModel):
    """The schema of a user theme file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    dark: bool = True
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator(
        "primary",
        "secondary",
        "accent",
        "warning",
        "error",
        "success",
        "foreground",
        "background",
        "surface",
        "panel",
    )
    @classmethod
    def _colour(cls, v: str | None) -> str | None:
        return None if v is None else _check_colour(v)

    @field_validator("variables")
    @classmethod
    def _variables(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if key.endswith(
                ("-mode", "-up", "-down", "-flat", "running", "paused", "stopped", "error")
            ):
                _check_colour(value)
            _check_css_value(key, value)
        return v

    def to_theme(self) -> Theme:
        return Theme(**self.model_dump())
