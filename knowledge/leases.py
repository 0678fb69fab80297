"""Leases in the shared database: a named lock that any process on any machine can hold, and that a process
which dies releases by itself (its lease expires when it stops renewing it).

    with hold(sessions, "index", wait=True):   # uploads, deletes and refreshes change the index one at a time
        ...

`acquire` is one INSERT … ON CONFLICT DO UPDATE … WHERE expired-or-mine, so two workers racing for a lease
cannot both win (PostgreSQL locks the row; SQLite serializes writers). The bot's scheduler uses `acquire`
directly to elect the one worker that runs the scheduled refresh.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Float, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .database import with_retry
from .errors import RefreshBusy
from .registry import Base

log = logging.getLogger(__name__)

TTL = 60.0  # seconds a lease outlives its holder's last renewal
POLL = 0.5  # seconds between attempts while waiting for a lease
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch: every worker's clock agrees


def acquire(s: Session, name: str, holder: str = HOLDER, ttl: float = TTL, now: float | None = None) -> bool:
    """Take `name` for `ttl` seconds if it is free or expired, or renew it if `holder` has it; True if held."""
    now = time.time() if now is None else now
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[s.get_bind().dialect.name]
    stmt = insert(Lease).values(name=name, holder=holder, expires_at=now + ttl)
    s.execute(stmt.on_conflict_do_update(
        index_elements=["name"], set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
        where=(Lease.expires_at < now) | (Lease.holder == holder)))
    return s.scalar(select(Lease.holder).where(Lease.name == name)) == holder


def release(s: Session, name: str, holder: str = HOLDER) -> None:
    s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def holder_of(s: Session, name: str, now: float | None = None) -> str | None:
    """Who holds `name` now (None: nobody, or an expired lease)."""
    now = time.time() if now is None else now
    lease = s.get(Lease, name)
    return lease.holder if lease is not None and lease.expires_at >= now else None


def _transaction(sessions: sessionmaker[Session], fn, *args):
    def run():
        with sessions.begin() as s:
            return fn(s, *args)
    return with_retry(run)


def claim(sessions: sessionmaker[Session], name: str, ttl: float = TTL, holder: str = HOLDER) -> bool:
    """`acquire` in its own transaction: take or renew `name` for this process; True if it holds it now."""
    return _transaction(sessions, acquire, name, holder, ttl)


def give_up(sessions: sessionmaker[Session], name: str, holder: str = HOLDER) -> None:
    """`release` in its own transaction (a worker shutting down hands its leases over at once)."""
    _transaction(sessions, release, name, holder)


@contextmanager
def hold(sessions: sessionmaker[Session], name: str, wait: bool = True, ttl: float = TTL) -> Iterator[None]:
    """Hold lease `name` for the block, renewed every ttl/3 by a thread; raises RefreshBusy if another process
    holds it and `wait` is False. A holder that dies stops renewing, so the lease frees itself after `ttl`."""
    holder = f"{HOLDER}:{uuid.uuid4().hex[:8]}"  # each hold its own: not reentrant, like two flocks of one file
    while not _transaction(sessions, acquire, name, holder, ttl):
        if not wait:
            other = _transaction(sessions, holder_of, name)
            raise RefreshBusy(f"another refresh is running (lease {name!r} held by {other}); try again later")
        time.sleep(POLL)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                if not _transaction(sessions, acquire, name, holder, ttl):
                    log.error("lease %r was taken over by another process while this one still worked", name)
            except Exception as e:  # noqa: BLE001 - a failed renewal is retried; the lease lasts ttl
                log.warning("could not renew lease %r: %s", name, e)

    renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        _transaction(sessions, release, name, holder)
