"""One command-palette provider exposing every action of the app and the dashboard."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens.help import key_display


class OxbotCommands(Provider):
    """Lists every bound action (with its current key) and runs it like the key would."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        screen = app.screen
        out: list[tuple[str, str, object]] = []
        dashboard = getattr(app, "dashboard", None) or screen
        keymap: dict[str, str] = getattr(app, "keymap", {})  # OxbotApp: what it was given
        for owner, bindings in ((dashboard, dashboard.BINDINGS), (app, app.BINDINGS)):
            for b in bindings:
                if not isinstance(b, Binding) or not b.id or b.id.startswith("panel."):
                    continue
                if b.action in ("command_palette",):
                    continue
                allowed = owner.check_action(b.action.split("(")[0], ())
                if allowed is False or allowed is None:
                    continue
                label = b.tooltip or b.description
                keys = keymap.get(b.id, b.key)
                shown = ", ".join(key_display(app, k.strip()) for k in keys.split(","))
                out.append((f"{label}", f"key: {shown}", partial(owner.run_action, b.action)))
        return out

    async def discover(self) -> Hits:
        for label, help_text, run in self._commands():
            yield DiscoveryHit(label, run, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, run in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(label),
                    run,  # type: ignore[arg-type]
                    help=help_text,
                )
