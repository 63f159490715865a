"""The built-in themes. Semantic variables (`pnl-up`, `bot-running`, `live-mode`, ...) are what
the .tcss files use, so a theme can change what "profit" or "LIVE" looks like in one place."""

from __future__ import annotations

from textual.theme import Theme

# Every theme defines these; tui styles reference them and nothing else beyond Textual's own.
SEMANTIC_VARIABLES: tuple[str, ...] = (
    "pnl-up",
    "pnl-down",
    "pnl-flat",
    "bot-running",
    "bot-paused",
    "bot-stopped",
    "bot-error",
    "live-mode",
    "live-mode-text",
    "paper-mode",
    "paper-mode-text",
    "cursor-text",  # text on the selected row ($primary background): one readable colour
)

OXBOT_DARK = Theme(
    name="oxbot-dark",
    primary="#4FA3E0",
    secondary="#7C8CF8",
    accent="#F0B429",
    warning="#F0B429",
    error="#E5484D",
    success="#30A46C",
    foreground="#D8DEE9",
    background="#10141A",
    surface="#171C24",
    panel="#1F2631",
    dark=True,
    variables={
        "pnl-up": "#3DD68C",
        "pnl-down": "#FF6369",
        "pnl-flat": "#9BA3AF",
        "bot-running": "#3DD68C",
        "bot-paused": "#F0B429",
        "bot-stopped": "#9BA3AF",
        "bot-error": "#FF6369",
        "live-mode": "#E5484D",
        "live-mode-text": "#FFFFFF",
        "paper-mode": "#2B5F8A",
        "paper-mode-text": "#FFFFFF",
        "cursor-text": "#0B0F14",
        "footer-key-foreground": "#4FA3E0",
    },
)

OXBOT_LIGHT = Theme(
    name="oxbot-light",
    primary="#1F6FB2",
    secondary="#5B5BD6",
    accent="#B35C00",
    warning="#B35C00",
    error="#CD2B31",
    success="#18794E",
    foreground="#1C2024",
    background="#F7F8FA",
    surface="#FFFFFF",
    panel="#E8ECF1",
    dark=False,
    variables={
        "pnl-up": "#18794E",
        "pnl-down": "#CD2B31",
        "pnl-flat": "#60646C",
        "bot-running": "#18794E",
        "bot-paused": "#B35C00",
        "bot-stopped": "#60646C",
        "bot-error": "#CD2B31",
        "live-mode": "#CD2B31",
        "live-mode-text": "#FFFFFF",
        "paper-mode": "#1F6FB2",
        "paper-mode-text": "#FFFFFF",
        "cursor-text": "#FFFFFF",
    },
)

# Only ANSI colour names: a 16-colour terminal over SSH renders exactly these.
OXBOT_CONTRAST = Theme(
    name="oxbot-contrast",
    primary="ansi_bright_cyan",
    secondary="ansi_bright_blue",
    accent="ansi_bright_yellow",
    warning="ansi_bright_yellow",
    error="ansi_bright_red",
    success="ansi_bright_green",
    foreground="ansi_bright_white",
    background="ansi_black",
    surface="ansi_black",
    panel="ansi_blue",
    dark=True,
    variables={
        "pnl-up": "ansi_bright_green",
        "pnl-down": "ansi_bright_red",
        "pnl-flat": "ansi_white",
        "bot-running": "ansi_bright_green",
        "bot-paused": "ansi_bright_yellow",
        "bot-stopped": "ansi_white",
        "bot-error": "ansi_bright_red",
        "live-mode": "ansi_red",
        "live-mode-text": "ansi_bright_white",
        "paper-mode": "ansi_blue",
        "paper-mode-text": "ansi_bright_white",
        "cursor-text": "ansi_black",
    },
)

BUILTIN_THEMES: tuple[Theme, ...] = (OXBOT_DARK, OXBOT_LIGHT, OXBOT_CONTRAST)
DEFAULT_THEME = OXBOT_DARK.name

# Fallbacks for user themes (and Textual's own themes) that omit our variables.
VARIABLE_DEFAULTS: dict[str, str] = {
    k: v for k, v in OXBOT_DARK.variables.items() if k in SEMANTIC_VARIABLES
}
