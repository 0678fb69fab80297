"""A managed local weaviate-server: loopback only, free ports, data under the data dir.

With WEAVIATE_URL set none of this runs; see `knowledge.store.connect`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreUnavailable

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Inherited variables that would override what we pass on the command line or our ports.
_DROPPED_ENV = ("HOST", "PORT", "GRPC_PORT")


def free_port(count: int = 1) -> int:
    """A port P such that P..P+count-1 are all free on loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((HOST, 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        if all(_is_free(base + i) for i in range(count)):
            return base
    raise StoreUnavailable("no free loopback ports for weaviate-server")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def is_ready(http_port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{http_port}/v1/.well-known/ready", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _running(pid: int) -> bool:
    """Alive and not a zombie (a server another process started may be its unreaped child)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_on_sigterm() -> None:
    """Make SIGTERM (kill, systemd, docker stop) raise SystemExit so `with` blocks stop the server they started.

    Python's default for SIGTERM ends the process without unwinding, which would orphan the child. Only the
    main thread can set handlers, and a handler someone else installed is left alone."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def node_env(data: Path, grpc_port: int, name: str, gossip: int, raft: int, raft_join: str, expect: int = 1,
             cluster_join: str = "") -> dict[str, str]:
    """The environment of one weaviate-server node on loopback: its data folder, gRPC port, gossip ports
    (`gossip`, +1 for data) and Raft ports (`raft`, +1 for internal RPC); a cluster's nodes share `raft_join`
    ("name:raft_port,…" of every voter), expect that many voters, and join the gossip of `cluster_join`."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update({
        "PERSISTENCE_DATA_PATH": str(data),
        "GRPC_PORT": str(grpc_port),
        "CLUSTER_HOSTNAME": name,
        "CLUSTER_BIND_ADDR": HOST,
        "CLUSTER_ADVERTISE_ADDR": HOST,
        "CLUSTER_GOSSIP_BIND_PORT": str(gossip),
        "CLUSTER_DATA_BIND_PORT": str(gossip + 1),
        "CLUSTER_IN_LOCALHOST": "true",
        "RAFT_PORT": str(raft),
        "RAFT_INTERNAL_RPC_PORT": str(raft + 1),
        "RAFT_JOIN": raft_join,
        "RAFT_BOOTSTRAP_EXPECT": str(expect),
        "DISABLE_TELEMETRY": "true",
        "GO_PROFILING_DISABLE": "true",
        "API_BASED_MODULES_DISABLED": "true",
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "",
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
        "LOG_LEVEL": "warning",
        "QUERY_DEFAULTS_LIMIT": "25",
    })
    if cluster_join:
        env["CLUSTER_JOIN"] = cluster_join
    return env


@dataclass
class WeaviateServer:
    """A weaviate-server child process whose data lives in `data_dir`.

    `start()` reuses a server already running for the same data dir (recorded in server.json). Every user,
    the starter included, registers in `server.users/`; `stop()` stops the server only when no other live
    user remains — so a cron refresh that started the server does not pull it from under a bot that came
    along meanwhile, and whoever leaves last stops it.
    """

    binary: Path
    data_dir: Path
    http_port: int = 0
    grpc_port: int = 0
    pid: int | None = None
    owned: bool = False
    _proc: subprocess.Popen | None = None
    _ticket: Path | None = None  # this object's file in server.users/

    @property
    def state_file(self) -> Path:
        return self.data_dir / "server.json"

    @property
    def users_dir(self) -> Path:
        return self.data_dir / "server.users"

    def _register(self, new_server: bool = False) -> None:
        self.users_dir.mkdir(exist_ok=True)
        if new_server:  # tickets left from an earlier server that died are not users of this one
            for stale in self.users_dir.glob("*-*"):
                stale.unlink(missing_ok=True)
        self._ticket = self.users_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._ticket.touch()

    def _other_users(self) -> list[Path]:
        """Live users other than this object (files of dead processes are swept)."""
        others = []
        for ticket in self.users_dir.glob("*-*") if self.users_dir.is_dir() else []:
            if ticket == self._ticket:
                continue
            if _pid_alive(int(ticket.name.split("-")[0])):
                others.append(ticket)
            else:
                ticket.unlink(missing_ok=True)
        return others

    @property
    def log_file(self) -> Path:
        return self.data_dir / "weaviate.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def start(self, timeout: float = 90.0) -> WeaviateServer:
        """Reuse the data dir's server or start one. A lock file makes "none running → start mine → record it"
        one step, so two processes starting at once end up on one server, not two on the same data."""
        import fcntl

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "server.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if self._reuse():
                self._register()
                return self
            return self._spawn(timeout)

    def _spawn(self, timeout: float) -> WeaviateServer:
        """Start this data dir's own server and wait until it answers (the caller holds the lock)."""
        if not self.binary.is_file():
            raise StoreUnavailable(
                f"weaviate-server not found at {self.binary}. Run ./scripts/setup.sh (needs Go), "
                "start Weaviate with 'docker compose up -d weaviate', or set WEAVIATE_URL to a server.")
        self.http_port, self.grpc_port = free_port(), free_port()
        gossip, raft = free_port(2), free_port(2)
        env = node_env(self.data_dir / "db", self.grpc_port, "coursebot-node", gossip, raft,
                       raft_join=f"coursebot-node:{raft}")
        log_handle = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            [str(self.binary), "--host", HOST, "--port", str(self.http_port), "--scheme", "http"],
            cwd=self.data_dir, env=env, stdout=log_handle, stderr=subprocess.STDOUT,
            start_new_session=True)
        log_handle.close()
        self.pid, self.owned = self._proc.pid, True
        _exit_on_sigterm()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StoreUnavailable(f"weaviate-server exited with code {self._proc.returncode}:\n"
                                       f"{self.log_tail()}")
            if is_ready(self.http_port):
                self._register(new_server=True)
                self.state_file.write_text(json.dumps(
                    {"pid": self.pid, "http_port": self.http_port, "grpc_port": self.grpc_port}))
                log.info("weaviate-server ready on %s (pid %s)", self.url, self.pid)
                return self
            time.sleep(0.25)
        self.stop()
        raise StoreUnavailable(f"weaviate-server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _reuse(self) -> bool:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return False
        if _pid_alive(state.get("pid", -1)) and is_ready(state.get("http_port", 0)):
            self.pid, self.http_port, self.grpc_port = state["pid"], state["http_port"], state["grpc_port"]
            self.owned = False
            log.info("reusing weaviate-server on %s (pid %s)", self.url, self.pid)
            return True
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Leave the server; stop it (SIGTERM, then SIGKILL) when no other live user remains."""
        if self._ticket is None:
            return
        others = self._other_users()
        self._ticket.unlink(missing_ok=True)
        self._ticket = None
        if others:
            log.info("leaving weaviate-server (pid %s) running for %d other user(s)", self.pid, len(others))
            self.owned = False
            return
        if not self.owned or self._proc is None:  # the last user of a server another process started
            if self.pid and _running(self.pid):
                os.kill(self.pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _running(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if _running(self.pid):
                    os.kill(self.pid, signal.SIGKILL)
            self.state_file.unlink(missing_ok=True)
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self.state_file.unlink(missing_ok=True)
        self.owned = False

    def kill(self) -> None:
        """Kill -9, as a crash would (for fault tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self.state_file.unlink(missing_ok=True)
        if self._ticket is not None:
            self._ticket.unlink(missing_ok=True)
            self._ticket = None
        self.owned = False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> WeaviateServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
