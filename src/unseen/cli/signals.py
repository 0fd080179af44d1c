"""CLI commands: signals."""

from unseen.cli.app import app, simulate_app  # noqa: F401
