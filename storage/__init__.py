"""oxbot's persistence: the SQLite ledger (``store``), paths, the writer lock and settings.

Importing this package is cheap: SQLAlchemy loads only with ``oxbot.storage.store``.
Nothing here imports Textual or Rich; tests/test_boundaries.py proves it.
"""
