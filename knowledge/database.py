"""The one database the source registry and the bot share: SQLite by default, PostgreSQL by DATABASE_URL.

Its schema is Alembic's (knowledge/migrations/): `make_sessionmaker` upgrades the database to the newest
revision before handing out sessions, under a lock, so several workers starting at once migrate it once.
A database created before the project used Alembic is recognised by its tables and adopted at the matching
revision (`legacy_revision`), then upgraded like any other.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_KEY = 0x636F7572  # PostgreSQL advisory lock id for migrations ("cour")


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so the bot and a refresh job can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def make_sessionmaker(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("model_modules", "")  # the product's migrations need no models
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def legacy_revision(conn: Connection) -> str | None:
    """The revision whose schema a database made before Alembic has (None: an empty database)."""
    inspector = inspect(conn)
    if not inspector.has_table("sources"):
        return None
    if not inspector.has_table("bot_users"):
        return "0001"
    if "chunker" not in {c["name"] for c in inspector.get_columns("sources")}:
        return "0002"
    return "0003"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (a no-op when it is there already).

    The revision is read under the migration lock, not before it: on SQLite a worker's first connection switches
    the file to WAL, which must not race another worker's migration (a copy of a table under `batch_alter_table`).
    """
    with migration_lock(engine):
        if revision == "head" and with_retry(lambda: current_revision(engine)) == head_revision():
            return
        migrate(engine, revision)


def migrate(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        config = alembic_config(conn)
        if MigrationContext.configure(conn).get_current_revision() is None:
            adopted = legacy_revision(conn)
            if adopted is not None:
                command.stamp(config, adopted)
        command.upgrade(config, revision)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite: a lock file beside the database (PostgreSQL locks inside the transaction instead)."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def with_retry(fn: Callable[[], T], attempts: int = 5, delay: float = 0.2) -> T:
    """Run a database operation, retrying while the database is locked, briefly unavailable, or (PostgreSQL)
    the transaction lost a serialization race or a deadlock and was rolled back."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")


def serialize(session: Session, key: str) -> None:
    """Make the rest of this transaction run alone among transactions that serialize on `key` in any worker:
    a read-decide-write (count a student's questions, then record one) cannot interleave with another.
    PostgreSQL: a transaction-level advisory lock on the key's hash. SQLite: the database's write lock, taken
    now by a write that changes nothing (SQLite has one writer at a time; others wait for its busy timeout)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))


def upsert(session: Session, model: type, values: dict[str, Any], key: list[str], update: list[str]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE (SQLite and PostgreSQL): two workers creating the same row at once
    both succeed, where a read-then-insert would fail one of them on the unique key."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = insert(model).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=key, set_={c: stmt.excluded[c] for c in update}))
