"""Engines, sessions and migrations: SQLite by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_url(data_dir: Path) -> str:
    """The default database inside a data directory."""
    return f"sqlite:///{(data_dir / 'inkwitness.db').resolve()}"


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (SQLite gives its -wal and -shm files the same mode)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process created it meanwhile
        pass


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs for durable, concurrent use."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _create_private(make_url(url).database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            # WAL + FULL sync: an acknowledged commit survives a crash (SIGKILL, power loss).
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def open_database(url: str) -> sessionmaker[Session]:
    """Engine, migrations, and a session factory for a database URL; failures are one StorageError."""
    try:
        engine = make_engine(url)
        migrate(engine)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StorageError(f"database URL {_safe(url)} is not usable: {exc}") from exc
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise StorageError(f"cannot open database {_safe(url)}: {reason}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"database {_safe(url)} failed: {str(exc).splitlines()[0]}") from exc
    return sessionmaker(engine, expire_on_commit=False)
