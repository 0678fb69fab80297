"""The source registry (SQLAlchemy 2.0): which file version is indexed, and which failed and why.

The bot's tables (users, messages, feedback…) share this `Base` and database (`knowledge.database`, whose
Alembic migrations create and upgrade every table: a model change needs a migration there).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


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


def get_source(session: Session, collection: str, doc_id: str) -> Source | None:
    return session.scalar(select(Source).where(Source.collection == collection, Source.doc_id == doc_id))


def list_sources(session: Session, collection: str) -> list[Source]:
    return list(session.scalars(select(Source).where(Source.collection == collection).order_by(Source.doc_id)))
