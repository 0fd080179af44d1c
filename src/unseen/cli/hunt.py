"""CLI commands: hunt."""

from unseen.cli.app import app, simulate_app  # noqa: F401
