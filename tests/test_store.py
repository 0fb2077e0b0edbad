"""Migrations: the schema Alembic builds is exactly the one the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inkwitness.store import make_engine, migrate, sqlite_url
from inkwitness.store.models import Base

from .service_fixtures import postgres_server, postgres_url  # noqa: F401


def _diff(url: str) -> list:
    engine = make_engine(url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_sqlite_schema_matches_models(tmp_path):
    assert _diff(sqlite_url(tmp_path)) == []


def test_postgresql_schema_matches_models(postgres_url):  # noqa: F811
    assert _diff(postgres_url) == []
