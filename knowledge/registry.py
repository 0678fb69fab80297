"""The source registry (SQLAlchemy 2.0): which file version is indexed, and which failed and why.

The bot's tables (users, messages, feedback…) share this `Base` and database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

T = TypeVar("T")


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


class Source(Base):
    """A course file known to a collection. `sha256` is the version whose chunks are in the index
    (None if no version was ever indexed); `error`/`error_sha` record the last failed version."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("collection", "doc_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection: Mapped[str] = mapped_column(String(100), index=True)
    doc_id: Mapped[str] = mapped_column(String(1000))  # path relative to root, POSIX
    root: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str | None] = mapped_column(String(20))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    chunker: Mapped[int] = mapped_column(Integer, default=0)  # CHUNKER_VERSION that produced the chunks
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    error_sha: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @property
    def indexed(self) -> bool:
        return self.sha256 is not None


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
    Base.metadata.create_all(engine)
    add_missing_columns(engine)
    return sessionmaker(engine, expire_on_commit=False)


def add_missing_columns(engine: Engine) -> list[str]:
    """Additive schema upgrades: columns added to a model since the database was created are added to its
    table (nullable, or with the column's scalar default). Anything else needs a real migration."""
    added = []
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            existing = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    continue
                ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
                default = column.default.arg if column.default is not None and column.default.is_scalar else None
                if default is not None:
                    ddl += f" DEFAULT {default!r}"
                conn.execute(text(ddl))
                added.append(f"{table.name}.{column.name}")
    return added


def with_retry(fn: Callable[[], T], attempts: int = 5, delay: float = 0.2) -> T:
    """Run a database operation, retrying while the database is locked or briefly unavailable."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")


def get_source(session: Session, collection: str, doc_id: str) -> Source | None:
    return session.scalar(select(Source).where(Source.collection == collection, Source.doc_id == doc_id))


def list_sources(session: Session, collection: str) -> list[Source]:
    return list(session.scalars(select(Source).where(Source.collection == collection).order_by(Source.doc_id)))
