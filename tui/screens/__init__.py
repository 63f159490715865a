"""Screens of the cockpit: one per module."""
