"""The user's strategies, loaded where the settings say: ``<config>/strategies/*.py`` and the
installed ``oxbot.strategies`` entry points. Call before resolving a strategy name; cheap when
nothing changed (files are reloaded only when edited)."""

from __future__ import annotations


def load_user_strategies() -> None:
    """Load or reload the user's strategy files and entry points into the registry. A broken
    file never raises here: its error (file:line) is what asking for its strategy says."""
    from oxbot.engine.strategies.loader import discover  # noqa: PLC0415
    from oxbot.storage.paths import strategies_dir  # noqa: PLC0415

    discover(strategies_dir())
