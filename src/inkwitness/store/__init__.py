"""Persistence: SQLAlchemy models, engines and Alembic migrations."""

from .database import make_engine, migrate, normalise_url, open_database, sqlite_url

__all__ = ["make_engine", "migrate", "normalise_url", "open_database", "sqlite_url"]
