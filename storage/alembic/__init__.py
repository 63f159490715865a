"""Alembic's migration scripts for both backends (storage/migrations.py runs them)."""
