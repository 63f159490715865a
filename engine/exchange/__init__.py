"""Real exchanges through ccxt: error translation, retries and breaker, clients and markets,
candle feeds, the live broker, reconciliation and the per-key engine lock.

Nothing here imports ccxt at module import time except where a client is built, so the CLI and
headless paths that never touch an exchange stay cheap.
"""
