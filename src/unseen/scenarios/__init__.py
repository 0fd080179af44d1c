"""Scenario files shipped with unseen (package data): `saint-malo.toml` and its registry."""
