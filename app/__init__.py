"""How oxbot is put together and hosted: the composition root (store + market + engine from
settings), the headless daemon, and the in-process host the cockpit runs the engine in.

Imports no Textual: the headless engine never loads the cockpit."""

__version__ = "0.1.0"
