"""TEST DOUBLE of an EngineClient: answers commands with the real event objects an engine sends,
synchronously, with fixed data. It is NOT an engine; tests of real trading use the Engine on the
seeded sim market. Loaded by conftest.py (importlib mode cannot import test packages)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from oxbot.engine import messages as m
from oxbot.engine.client import EventListener
from oxbot.engine.models import BotConfig, BotStatus

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def bot_view(
    name: str,
    status: BotStatus = BotStatus.RUNNING,
    *,
    equity: str = "10000",
    strategy: str = "sma_cross",
    positions: int = 0,
    trades: int = 0,
    symbols: tuple[str, ...] = ("BTC/USDT",),
    llm: m.LlmFigures | None = None,
) -> m.BotView:
    cfg = BotConfig(name=name, strategy=strategy, symbols=symbols)
    return m.BotView(
        name=name,
        config=cfg,
        status=status,
        cash=Decimal(equity),
        equity=Decimal(equity),
        start_equity=Decimal("10000"),
        day_start_equity=Decimal("10000"),
        realised=Decimal(0),
        fees=Decimal(0),
        open_positions=positions,
        trades=trades,
        cycles=3,
        errors=0,
        last_decision_ts=T0 + 60_000,
        next_cycle_ts=T0 + 120_000,
        llm=llm,
    )


class ScriptedEngineClient:
    """Commands are recorded; each gets the events a real engine would answer with."""

    def __init__(
        self,
        bots: list[m.BotView] | None = None,
        positions: list[m.PositionView] | None = None,
        hold_panic: bool = False,
    ) -> None:
        self.bots = {b.name: b for b in (bots or [])}
        self.positions = list(positions or [])
        self.commands: list[m.Command] = []
        self.listener: EventListener | None = None
        self.stopped = False
        self.hold_panic = hold_panic  # PANIC's CommandDone only when release_panic() is called
        self._panic: m.PanicAll | None = None

    @property
    def attached(self) -> bool:
        return False

    def start(self, listener: EventListener) -> None:
        self.listener = listener
        listener(
            m.EngineSnapshot(
                T0 + 90_000, "running", tuple(self.bots.values()), tuple(self.positions)
            )
        )

    def emit(self, event: m.Event) -> None:
        assert self.listener is not None
        self.listener(event)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True

    def _set(self, name: str, status: BotStatus) -> None:
        self.bots[name] = replace(self.bots[name], status=status)
        self.emit(m.BotStateChanged(T0, self.bots[name]))

    def submit(self, command: m.Command) -> None:
        self.commands.append(command)
        msg = ""
        match command:
            case m.StartBot() | m.ResumeBot():
                self._set(command.name, BotStatus.RUNNING)
            case m.StopBot():
                self._set(command.name, BotStatus.STOPPED)
            case m.PauseBot():
                self._set(command.name, BotStatus.PAUSED)
            case m.FlattenBot():
                self.bots[command.name] = replace(self.bots[command.name], open_positions=0)
                for p in [p for p in self.positions if p.bot == command.name]:
                    self.positions.remove(p)
                    self.emit(m.PositionChanged(T0, command.name, p.symbol, None))
                self.emit(m.BotStateChanged(T0, self.bots[command.name]))
            case m.DeleteBot():
                del self.bots[command.name]
                self.emit(m.BotRemoved(T0, command.name))
                msg = "history purged" if command.purge_history else "history kept"
            case m.AddBot() if command.config is not None:
                self.bots[command.config.name] = bot_view(command.config.name, BotStatus.STOPPED)
                self.emit(m.BotStateChanged(T0, self.bots[command.config.name]))
            case m.PanicAll():
                if self.hold_panic:
                    self._panic = command
                    return
                msg = "PANIC done"
        self.emit(m.CommandDone(T0, command.request_id, type(command).__name__, True, msg))

    def release_panic(self) -> None:
        assert self._panic is not None
        for name in list(self.bots):
            self._set(name, BotStatus.STOPPED)
        self.emit(
            m.CommandDone(
                T0,
                self._panic.request_id,
                "PanicAll",
                True,
                "PANIC done: 2 bot(s) stopped, 1 position(s) closed",
            )
        )


class MemoryKeyring:
    """A working keyring backend kept in a dict (TEST DOUBLE for the Secret Service): the shared
    one in tests/support/memory_keyring.py."""

    def __new__(cls):  # imported lazily so importing this module does not import keyring
        import memory_keyring

        return memory_keyring.MemoryKeyring()
