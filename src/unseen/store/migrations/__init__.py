"""Alembic migration environment shipped with the package; run by `unseen.store.migrate`."""
