"""The registry on real SQLite: additive schema upgrades and retries while the database is locked."""

import sqlite3
import threading
import time

from sqlalchemy import select

from knowledge.registry import Source, make_sessionmaker, with_retry


def test_columns_added_to_models_are_added_to_old_databases(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sources (id INTEGER PRIMARY KEY, collection VARCHAR(100), doc_id VARCHAR(1000), "
                "root VARCHAR(2000), kind VARCHAR(20), sha256 VARCHAR(64), size INTEGER, chunk_count INTEGER, "
                "indexed_at DATETIME, error TEXT, error_sha VARCHAR(64), updated_at DATETIME)")
    con.execute("INSERT INTO sources (collection, doc_id, root, size, chunk_count) VALUES ('C', 'a.pdf', '/r', 1, 2)")
    con.commit()
    con.close()
    sessions = make_sessionmaker(f"sqlite:///{db}")
    with sessions() as s:
        row = s.scalar(select(Source))
    assert row.doc_id == "a.pdf" and row.chunker == 0


def test_writes_wait_for_a_locked_database(tmp_path):
    db = tmp_path / "busy.db"
    sessions = make_sessionmaker(f"sqlite:///{db}")
    blocker = sqlite3.connect(db, timeout=0, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, blocker.rollback).start()

    def write():
        with sessions.begin() as s:
            s.add(Source(collection="C", doc_id="x.md", root="/r"))

    start = time.monotonic()
    with_retry(write)
    assert time.monotonic() - start >= 0.9
    with sessions() as s:
        assert s.scalar(select(Source.doc_id)) == "x.md"
    blocker.close()
