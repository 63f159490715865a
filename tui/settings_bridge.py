"""The app's view of user settings: theme, keymap, themes directory (user theme files live in
``config_dir()/themes/*.toml|json``).

Reads the object given by the CLI (``oxbot.storage.settings`` Settings, or anything with those
attributes); saving goes through ``oxbot.storage.settings.save_settings`` and always runs in a
worker thread (it writes a file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SettingsBridge:
    def __init__(self, settings: Any) -> None:
        self._settings = settings

    @property
    def theme(self) -> str | None:
        return getattr(self._settings, "theme", None)

    @property
    def keymap(self) -> dict[str, str]:
        return dict(getattr(self._settings, "keymap", None) or {})

    @property
    def themes_dir(self) -> Path | None:
        value = getattr(self._settings, "themes_dir", None)
        if value is None and getattr(self._settings, "config_dir", None) is not None:
            value = Path(self._settings.config_dir) / "themes"
        if value is None and self._settings is not None:
            from oxbot.storage.paths import config_dir  # noqa: PLC0415 - path maths, no I/O

            value = config_dir() / "themes"
        return Path(value) if value is not None else None

    def save_theme(self, name: str) -> None:
        """Persist the theme choice (blocking: call from a worker thread)."""
        if self._settings is None:
            return
        from oxbot.storage.settings import save_settings  # noqa: PLC0415

        if hasattr(self._settings, "model_copy"):
            self._settings = self._settings.model_copy(update={"theme": name})
        else:
            self._settings.theme = name
        save_settings(self._settings)
