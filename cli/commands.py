"""The list of sub-command registrars (each module: ``register(subparsers)``)."""

from __future__ import annotations

from oxbot.cli import alerts as cli_alerts
from oxbot.cli import arena as cli_arena
from oxbot.cli import audit as cli_audit
from oxbot.cli import backtest as cli_backtest
from oxbot.cli import bots as cli_bots
from oxbot.cli import control as cli_control
from oxbot.cli import data as cli_data
from oxbot.cli import db as cli_db
from oxbot.cli import doctor as cli_doctor
from oxbot.cli import keys as cli_keys
from oxbot.cli import reads as cli_reads
from oxbot.cli import remote as cli_remote
from oxbot.cli import replay as cli_replay
from oxbot.cli import run as cli_run
from oxbot.cli import strategies as cli_strategies
from oxbot.cli import tui as cli_tui

REGISTRARS = [
    cli_bots.register,
    cli_run.register,
    cli_tui.register,
    cli_backtest.register,
    cli_arena.register,
    cli_data.register,
    cli_db.register,
    cli_doctor.register,
    cli_keys.register,
    cli_alerts.register,
    cli_remote.register,
    cli_control.register,
    cli_reads.register,
    cli_audit.register,
    cli_replay.register,
    cli_strategies.register,
]
