"""A real PostgreSQL server for the tests: Debian's binaries (`make setup` installs them), `initdb` in a fresh
directory, loopback only, on a free port, as a non-root user because PostgreSQL refuses to run as root."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from knowledge.server import free_port


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """Why no server can be started here (None: it can)."""
    if binaries() is None:
        return "PostgreSQL is not installed (make setup installs Debian's postgresql package)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root with no 'postgres' user to run the server as"
    return None


class PostgresServer:
    def __init__(self):
        self.bin = binaries()
        self.port = free_port()
        # not under pytest's tmp_path: its parents are private to root, and the server runs as postgres
        self.dir = Path(tempfile.mkdtemp(prefix="coursebot-pg-"))
        self.user = None if os.geteuid() else "postgres"
        self.process: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://coursebot@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("user", self.user)
        return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> PostgresServer:
        if self.user:
            shutil.chown(self.dir, self.user)
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "coursebot", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")
        with open(self.dir / "server.log", "w") as log:  # the server keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                user=self.user, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError as e:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "server.log").read_text()[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start: {log}") from e
                time.sleep(0.1)

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://coursebot@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM's "smart" one waits for clients
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


TEST_DATABASE = os.environ.get("COURSEBOT_TEST_DATABASE", "sqlite")  # "postgresql": every suite on PostgreSQL
_shared: PostgresServer | None = None


def suite_database_url() -> str | None:
    """The database a test's settings use: None (SQLite in the test's data dir, the default) or, when
    COURSEBOT_TEST_DATABASE=postgresql (`make test-postgres`), a fresh database on one server for the session."""
    global _shared
    if TEST_DATABASE != "postgresql":
        return None
    if _shared is None:
        if reason := unavailable():
            raise RuntimeError(f"COURSEBOT_TEST_DATABASE=postgresql, but {reason}")
        _shared = PostgresServer().start()
        atexit.register(_shared.stop)
    return _shared.create_database()
