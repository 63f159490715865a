"""The `oxbot` command line (entry point `oxbot.cli.main:main`). Sub-command modules import
their heavy dependencies inside their handlers, so `oxbot --help` stays fast."""
