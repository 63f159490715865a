"""Themes: built-ins carry every semantic variable; the contrast one uses ANSI names only; user
theme files are validated and a bad one is skipped with a notice naming the file."""

from __future__ import annotations

import json

from tui_pilot import notifications

from oxbot.themes import BUILTIN_THEMES, SEMANTIC_VARIABLES, load_user_themes
from oxbot.tui.app import OxbotApp


def test_builtins_define_every_semantic_variable():
    assert {t.name for t in BUILTIN_THEMES} >= {"oxbot-dark", "oxbot-light", "oxbot-contrast"}
    for theme in BUILTIN_THEMES:
        missing = set(SEMANTIC_VARIABLES) - set(theme.variables)
        assert not missing, f"{theme.name} lacks {missing}"
        theme.to_color_system().generate()  # Textual accepts it


def test_contrast_theme_uses_ansi_colour_names_only():
    contrast = next(t for t in BUILTIN_THEMES if t.name == "oxbot-contrast")
    colours = [
        contrast.primary,
        contrast.secondary,
        contrast.background,
        contrast.foreground,
        contrast.error,
        contrast.success,
        *contrast.variables.values(),
    ]
    assert all(c and c.startswith("ansi_") for c in colours), colours


def test_user_themes_loaded_and_bad_ones_skipped(tmp_path):
    (tmp_path / "ocean.toml").write_text(
        'name = "ocean"\nprimary = "#0077be"\n[variables]\npnl-up = "#00ff88"\n'
    )
    (tmp_path / "sun.json").write_text(
        json.dumps({"name": "sun", "primary": "orange", "dark": False})
    )
    (tmp_path / "broken.toml").write_text('name = "x"\nprimary = \n')
    (tmp_path / "badcolour.toml").write_text('name = "bad"\nprimary = "not-a-colour"\n')
    (tmp_path / "clash.toml").write_text('name = "oxbot-dark"\nprimary = "#ffffff"\n')
    (tmp_path / "extra.toml").write_text('name = "extra"\nprimary = "red"\nsparkle = 1\n')
    (tmp_path / "notes.txt").write_text("ignored")
    themes, warnings = load_user_themes(tmp_path)
    assert sorted(t.name for t in themes) == ["ocean", "sun"]
    assert next(t for t in themes if t.name == "ocean").variables["pnl-up"] == "#00ff88"
    text = "\n".join(warnings)
    for name in ("broken.toml", "badcolour.toml", "clash.toml", "extra.toml"):
        assert name in text
    assert "not a colour" in text and "already used" in text
    assert load_user_themes(tmp_path / "absent") == ([], [])


async def test_app_uses_a_user_theme_and_notices_a_bad_one(tmp_path, scripted_client, fixed_clock):
    (tmp_path / "ocean.toml").write_text('name = "ocean"\nprimary = "#0077be"\n')
    (tmp_path / "bad.toml").write_text('name = "bad"\nprimary = "nope"\n')

    class Settings:
        theme = "ocean"
        keymap: dict[str, str] = {}
        themes_dir = tmp_path

    app = OxbotApp(scripted_client, settings=Settings(), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert app.theme == "ocean"
        assert any("bad.toml" in n.message for n in notifications(app))
        # the semantic variables fall back to the defaults for a theme that omits them
        assert app.get_css_variables()["pnl-up"]
        await pilot.press("t")
        assert app.theme == "oxbot-dark"  # cycling wraps past the user theme
