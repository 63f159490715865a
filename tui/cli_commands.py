"""The list of sub-command registrars (each module: ``register(subparsers)``)."""

from __future__ import annotations

from . import cli_backtest, cli_bots, cli_data, cli_doctor, cli_keys, cli_remote, cli_run, cli_tui

REGISTRARS = [
    cli_bots.register, cli_run.register, cli_tui.register, cli_backtest.register,
    cli_data.register, cli_doctor.register, cli_keys.register, cli_remote.register,
]
