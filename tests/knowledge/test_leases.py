"""knowledge/leases.py: one holder at a time across processes, on SQLite and PostgreSQL; a holder that stops
renewing loses the lease; `hold` renews while the work runs and releases after."""

from __future__ import annotations

import threading
import time

import pytest

from knowledge.database import make_sessionmaker
from knowledge.errors import RefreshBusy
from knowledge.leases import acquire, claim, give_up, hold, holder_of


def test_one_holder_until_it_expires_or_releases(database_url):
    sessions = make_sessionmaker(database_url)
    with sessions.begin() as s:
        assert acquire(s, "index", "a", ttl=10, now=100.0)
    with sessions.begin() as s:
        assert not acquire(s, "index", "b", ttl=10, now=105.0)  # a holds it
        assert acquire(s, "index", "a", ttl=10, now=105.0)  # a renews: now until 115
        assert holder_of(s, "index", now=114.0) == "a"
    with sessions.begin() as s:
        assert not acquire(s, "index", "b", ttl=10, now=114.0)
        assert acquire(s, "index", "b", ttl=10, now=116.0)  # a stopped renewing (died): b takes over
        assert holder_of(s, "index", now=200.0) is None
    assert claim(sessions, "scheduler", holder="c") and not claim(sessions, "scheduler", holder="d")
    give_up(sessions, "scheduler", holder="c")
    assert claim(sessions, "scheduler", holder="d")


def test_racing_workers_never_both_win(database_url):
    engines = [make_sessionmaker(database_url) for _ in range(2)]
    won, barrier = [], threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        if claim(engines[i % 2], "race", holder=f"w{i}"):
            won.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


def test_hold_excludes_waits_renews_and_releases(database_url):
    sessions = make_sessionmaker(database_url)
    order = []
    with hold(sessions, "index", ttl=0.6):
        with pytest.raises(RefreshBusy, match="another refresh is running"):
            with hold(make_sessionmaker(database_url), "index", wait=False):
                pass
        def wait_then_note() -> None:
            with hold(sessions, "index"):
                order.append("second")
        waiter = threading.Thread(target=wait_then_note)
        waiter.start()
        time.sleep(1.5)  # > ttl: only the renewals keep the lease
        order.append("first done")
    waiter.join(10)
    assert order == ["first done", "second"]
    with sessions.begin() as s:
        assert holder_of(s, "index") is None  # released
