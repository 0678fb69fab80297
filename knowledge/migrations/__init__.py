"""Alembic migrations for the one database the registry and the bot share (see `knowledge.database`)."""
