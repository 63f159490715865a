"""User themes: TOML or JSON files in a config directory, validated before use.

A file holds one theme: ``name`` and ``primary`` are required; the other Theme fields and a
``[variables]`` table are optional. A bad file is skipped with a warning naming the file and the
fix; it never stops the app from starting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.theme import Theme

from .builtin import BUILTIN_THEMES


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import tomllib  # noqa: PLC0415 - only with a theme file to read (≈ 5 ms of the first frame)

        data = tomllib.loads(text)  # its TOMLDecodeError is a ValueError
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
        from pydantic import ValidationError  # noqa: PLC0415 - only with theme files to read

        from .theme_file import ThemeFile  # noqa: PLC0415

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
        except (OSError, ValueError) as e:
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
