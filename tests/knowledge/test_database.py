"""knowledge/database.py on real SQLite and PostgreSQL: Alembic builds every table the models declare, databases
made before Alembic (or by an older release) are upgraded keeping their rows, workers starting together migrate
once, and writes wait while SQLite is locked."""

import sqlite3
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

import bot.tables  # noqa: F401  (registers the bot's tables on Base.metadata: the schema must cover them too)
import knowledge.leases  # noqa: F401  (and the workers' leases)
from knowledge.database import current_revision, head_revision, make_engine, make_sessionmaker, upgrade, with_retry
from knowledge.registry import Base, Source


def schema_differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_a_new_database_gets_every_table_the_models_declare(database_url):
    sessions = make_sessionmaker(database_url)
    engine = sessions.kw["bind"]
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []  # a model changed without a migration fails here


@pytest.mark.parametrize("release", ["0001", "0002", "0003"])
def test_a_database_made_before_alembic_is_adopted_and_upgraded(database_url, release):
    """Each schema an earlier release created with create_all (and no alembic_version table): sources only; with the
    bot's tables; with the chunker column. Rows survive, the new columns get their defaults."""
    engine = make_engine(database_url)
    upgrade(engine, release)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO sources (collection, doc_id, root, size, chunk_count, updated_at) "
                          "VALUES ('C', 'a.pdf', '/r', 1, 2, CURRENT_TIMESTAMP)"))
        if release >= "0002":
            conn.execute(text("INSERT INTO bot_users (id, role, name, first_seen) "
                              "VALUES (7, 'admin', 'Profe', CURRENT_TIMESTAMP)"))
    engine.dispose()

    sessions = make_sessionmaker(database_url)
    with sessions() as s:
        row = s.scalar(select(Source))
        assert (row.doc_id, row.chunk_count, row.chunker) == ("a.pdf", 2, 0)
        if release >= "0002":
            assert bot.tables.admin_ids(s) == {7}
    assert current_revision(sessions.kw["bind"]) == head_revision()
    assert schema_differences(sessions.kw["bind"]) == []


def test_the_first_releases_sqlite_file_is_upgraded(tmp_path):
    """The DDL the first release's create_all wrote, verbatim (no bot tables, no chunker column)."""
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sources (id INTEGER PRIMARY KEY, collection VARCHAR(100), doc_id VARCHAR(1000), "
                "root VARCHAR(2000), kind VARCHAR(20), sha256 VARCHAR(64), size INTEGER, chunk_count INTEGER, "
                "indexed_at DATETIME, error TEXT, error_sha VARCHAR(64), updated_at DATETIME, "
                "UNIQUE (collection, doc_id))")
    con.execute("INSERT INTO sources (collection, doc_id, root, size, chunk_count) VALUES ('C', 'a.pdf', '/r', 1, 2)")
    con.commit()
    con.close()
    sessions = make_sessionmaker(f"sqlite:///{db}")
    with sessions() as s:
        row = s.scalar(select(Source))
    assert row.doc_id == "a.pdf" and row.chunker == 0
    assert {"bot_users", "bot_messages"} <= set(inspect(sessions.kw["bind"]).get_table_names())


def test_workers_starting_together_migrate_the_database_once(database_url):
    errors, done = [], []

    def start():
        try:
            done.append(current_revision(make_sessionmaker(database_url).kw["bind"]))
        except Exception as e:  # noqa: BLE001 - the assertion reports it
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and done == [head_revision()] * 4


def test_a_starting_worker_opens_no_connection_while_another_migrates(tmp_path):
    """SQLite: the revision is read under the migration lock, so a worker's first connection (which switches the file
    to WAL) cannot race a migration in progress; before the fix it connected first and could get 'database is locked'."""
    import fcntl

    db = tmp_path / "w.db"
    with open(f"{db}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        worker = threading.Thread(target=make_sessionmaker, args=(f"sqlite:///{db}",))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and not db.exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join(timeout=30)
    assert current_revision(make_engine(f"sqlite:///{db}")) == head_revision()


def test_sources_are_unique_per_collection(database_url):
    sessions = make_sessionmaker(database_url)
    with sessions.begin() as s:
        s.add_all([Source(collection="A", doc_id="x.md", root="/r"), Source(collection="B", doc_id="x.md", root="/r")])
    with pytest.raises(Exception, match="(?i)unique"), sessions.begin() as s:
        s.add(Source(collection="A", doc_id="x.md", root="/r"))


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
