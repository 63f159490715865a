"""EngineClient: how a front end (the TUI, the CLI) talks to an engine, wherever it runs.

The protocol lives with the engine's other seams in engine/ports.py; this module keeps the
import path front ends use."""

from __future__ import annotations

from .ports import EngineClient, EventListener

__all__ = ["EngineClient", "EventListener"]
