"""Theme colours for Rich renderables (table cells, log lines), read from the app's CSS
variables so they follow the theme, including user themes."""

from __future__ import annotations

from textual.app import App


def colour(app: App[object], variable: str, fallback: str = "") -> str:
    """A Rich colour for a theme variable such as ``pnl-up``; '' when the theme lacks it."""
    cache: dict[str, str] | None = getattr(app, "_oxbot_palette", None)
    key = app.theme
    if cache is None or cache.get("__theme__") != key:
        cache = dict(app.get_css_variables())
        cache["__theme__"] = key
        app._oxbot_palette = cache  # type: ignore[attr-defined]
    value = cache.get(variable, fallback)
    if value.startswith("ansi_"):  # Rich names ANSI colours without the prefix
        value = value.removeprefix("ansi_")
    return value
