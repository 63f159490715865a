"""oxbot's trading core: domain models, market data, strategies, risk, brokers and the engine.

Nothing here imports Textual or Rich; tests/test_boundaries.py proves it.
"""
