"""Backtests: the live strategies, risk manager and paper broker run over history."""

from __future__ import annotations

from .ledger import Trade
from .runner import BacktestConfig, BacktestResult, min_bars, run_backtest

__all__ = ["BacktestConfig", "BacktestResult", "Trade", "min_bars", "run_backtest"]
