"""User themes: TOML or JSON files in a config directory, validated before use.

A file holds one theme: ``name`` and ``primary`` are required; the other Theme fields and a
``[variables]`` table are optional. A bad file is skipped with a warning naming the file and the
fix; it never stops the app from starting.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet
from textual.theme import Theme

from .builtin import BUILTIN_THEMES


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


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        data = tomllib.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the file must hold one table/object")
    return data


def load_user_themes(directory: Path | str | None) -> tuple[list[Theme], list[str]]:
    """Themes from ``*.toml`` / ``*.json`` in ``directory`` and a warning per skipped file."""
    themes: list[Theme] = []
    warnings: list[str] = []
    if directory is None:
        return themes, warnings
    root = Path(directory)
    if not root.is_dir():
        return themes, warnings
    taken = {t.name for t in BUILTIN_THEMES}
    for path in sorted(root.iterdir()):
        if path.suffix not in (".toml", ".json") or not path.is_file():
            continue
        try:
            spec = ThemeFile.model_validate(_read(path))
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'file'}: "
                f"{err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
            warnings.append(f"theme file {path.name} skipped: {problems}")
            continue
        except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
            warnings.append(
                f"theme file {path.name} skipped: cannot read it ({e}); fix the TOML/JSON syntax"
            )
            continue
        if spec.name in taken:
            warnings.append(
                f"theme file {path.name} skipped: the name {spec.name!r} is "
                "already used; give the theme another name"
            )
            continue
        taken.add(spec.name)
        themes.append(spec.to_theme())
    return themes, warnings
