"""The dashboard's bot commands: new/edit through the form, start (LIVE asks), stop, pause,
resume, flatten and delete (both ask). The base class of DashboardScreen, which provides
``_bot``, ``redraw`` and the two request-tracking attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.screen import Screen

from .. import formatting as fmt
from ..cockpit import Cockpit, cockpit
from .confirm import ConfirmScreen
from .delete_confirm import DeleteBotScreen
from .stop_dialogs import CLOSE, StopBotScreen

if TYPE_CHECKING:  # the engine's messages and models load after the first frame
    from oxbot.engine import messages as m
    from oxbot.engine.models import BotConfig


class BotActions(Screen[None]):
    """Key actions on the selected bot; every one ends in one engine command."""

    _config_requests: dict[str, tuple[BotConfig, str | None]]
    _select_when_shown: str | None

    @property
    def oxapp(self) -> Cockpit:
        return cockpit(self)

    def _bot(self) -> m.BotView | None:
        raise NotImplementedError

    def redraw(self, dirty: set[str], *, force_bots: bool = False) -> None:
        raise NotImplementedError

    def _elsewhere(self, bot: m.BotView, what: str) -> bool:
        """True, saying so, for a bot another engine of the database runs: its dialog would
        only end in that engine's refusal (engine/engine.py ``_here``)."""
        if bot.engine is None:
            return False
        self.app.notify(
            f"bot {bot.name} runs on engine {bot.engine}: {what} it there (nothing changed here)",
            title=f"{what.capitalize()} {bot.name}",
            severity="error",
            markup=False,
        )
        return True

    def action_new_bot(self) -> None:
        from .bot_config import BotConfigScreen  # noqa: PLC0415 - the form loads on first use

        self.app.push_screen(
            BotConfigScreen(None, taken=set(self.oxapp.state.bots)), self._config_saved
        )

    def action_configure(self) -> None:
        from .bot_config import BotConfigScreen  # noqa: PLC0415 - the form loads on first use

        bot = self._bot()
        if bot is not None and not self._elsewhere(bot, "edit"):
            self.app.push_screen(
                BotConfigScreen(bot.config, taken=set(self.oxapp.state.bots)),
                lambda cfg: self._config_saved(cfg, bot.name),
            )

    def _config_saved(self, cfg: BotConfig | None, old_name: str | None = None) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if cfg is None:
            return
        if old_name is None:
            rid = self.oxapp.send(m.AddBot(config=cfg), f"Add bot {cfg.name}")
        else:
            rid = self.oxapp.send(m.UpdateBot(name=old_name, config=cfg), f"Update bot {old_name}")
        self._config_requests[rid] = (cfg, old_name)
        self.oxapp.state.refusal_shown.add(rid)  # a refusal brings the form back, saying why

    def command_done(self, done: m.CommandDone) -> None:
        """An Add/Update the form sent was answered: select the new bot, or bring the form
        back with what the user entered and the engine's reason (nothing was saved)."""
        sent = self._config_requests.pop(done.request_id, None)
        if sent is None:
            return
        from .bot_config import BotConfigScreen  # noqa: PLC0415 - the form loads on first use

        cfg, old_name = sent
        if done.ok:
            if old_name is None:
                self._select_when_shown = cfg.name
                self.redraw({"bots"}, force_bots=True)
            return
        taken = set(self.oxapp.state.bots)
        self.app.push_screen(
            BotConfigScreen(
                cfg,
                taken=taken,
                new=old_name is None,
                refused=done.message or f"{done.command} failed",
            ),
            lambda again: self._config_saved(again, old_name),
        )

    def action_start(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame
        from oxbot.engine.models import Mode  # noqa: PLC0415

        if (bot := self._bot()) is not None:
            if bot.config.mode is Mode.LIVE:
                self.app.push_screen(
                    ConfirmScreen(
                        f"Start {bot.name} in LIVE mode?",
                        f"It will place REAL orders with real money on {bot.config.exchange}.",
                        confirm_label="Start LIVE",
                        danger=True,
                    ),
                    self._if_confirmed(m.StartBot(name=bot.name), f"Start {bot.name} (LIVE)"),
                )
                return
            self.oxapp.send(m.StartBot(name=bot.name), f"Start {bot.name}", quiet=True)

    def _if_confirmed(self, command: m.Command, what: str) -> Callable[[bool | None], None]:
        def answered(ok: bool | None) -> None:
            if ok:
                self.oxapp.send(command, what)

        return answered

    def action_stop(self) -> None:
        """A bot holding positions asks first: keep them (unwatched) or close them."""
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if (bot := self._bot()) is None:
            return
        if not bot.open_positions or bot.engine is not None:  # the engine's refusal says why
            self.oxapp.send(m.StopBot(name=bot.name), f"Stop {bot.name}", quiet=True)
            return

        def answered(choice: str | None) -> None:
            if choice is not None:
                self.oxapp.send(
                    m.StopBot(name=bot.name, close_positions=choice == CLOSE), f"Stop {bot.name}"
                )

        self.app.push_screen(
            StopBotScreen(bot.name, bot.open_positions, bot.config.on_stop), answered
        )

    def action_pause(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if (bot := self._bot()) is not None:
            self.oxapp.send(m.PauseBot(name=bot.name), f"Pause {bot.name}", quiet=True)

    def action_resume(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if (bot := self._bot()) is not None:
            self.oxapp.send(m.ResumeBot(name=bot.name), f"Resume {bot.name}", quiet=True)

    def action_flatten(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if (bot := self._bot()) is None or self._elsewhere(bot, "flatten"):
            return
        self.app.push_screen(
            ConfirmScreen(
                f"Flatten {bot.name}?",
                f"Close {fmt.count(bot.open_positions, 'open position')} of "
                f"{bot.name} at market now.",
                confirm_label="Flatten",
                danger=True,
            ),
            self._if_confirmed(m.FlattenBot(name=bot.name), f"Flatten {bot.name}"),
        )

    def action_delete(self) -> None:
        import oxbot.engine.messages as m  # noqa: PLC0415 - not before the first frame

        if (bot := self._bot()) is None or self._elsewhere(bot, "delete"):
            return

        def done(purge: bool | None) -> None:
            if purge is not None:
                self.oxapp.send(
                    m.DeleteBot(name=bot.name, purge_history=purge), f"Delete {bot.name}"
                )

        self.app.push_screen(DeleteBotScreen(bot.name), done)
