"""Bot workers as real `coursebot serve --webhook` processes behind a round-robin proxy (tests only)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from knowledge.server import free_port

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COURSEBOT = Path(sys.executable).with_name("coursebot")


class RoundRobin:
    """A reverse proxy in front of the workers: request n goes to worker n % len(workers), as nginx's default
    upstream balancing does. `routed` records (worker index, the update) of every request it forwarded."""

    def __init__(self, ports: list[int], path: str):
        self.ports, self.path, self.port = ports, path, free_port()
        self.routed: list[tuple[int, dict]] = []
        self._next = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = proxy.forward(body, self.headers)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.path}"

    def forward(self, body: bytes, headers) -> int:
        worker, self._next = self._next % len(self.ports), self._next + 1
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", SECRET_HEADER.lower())}
        try:
            status = httpx.post(f"http://127.0.0.1:{self.ports[worker]}/{self.path}", content=body,
                                headers=keep, timeout=30).status_code
        except httpx.HTTPError:
            return 502
        if 200 <= status < 300:
            self.routed.append((worker, json.loads(body)))
        return status

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Worker:
    """`coursebot serve --webhook` on `port` with `env`, logging to `log`."""

    def __init__(self, env: dict[str, str], port: int, log: Path, cwd: Path):
        self.env = {**env, "COURSEBOT_WEBHOOK_PORT": str(port)}
        self.port, self.log, self.cwd = port, log, cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(COURSEBOT), "serve", "--webhook"], env=self.env, cwd=self.cwd,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the worker logged that it serves and its webhook port answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited {self.process.returncode}:\n{self.output()[-3000:]}")
            if "serving " in self.output():
                try:
                    httpx.get(f"http://127.0.0.1:{self.port}/", timeout=2)
                    return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready within {timeout:g} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT, as Ctrl-C: PTB stops the webhook server and runs post_shutdown."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.open("a").write(f"\n--- exited {self.process.returncode} ---\n")


def worker_env(values: dict[str, object]) -> dict[str, str]:
    """The environment for a worker: this one's PATH and cache locations, plus `values` as strings."""
    inherited = ("PATH", "HOME", "LANG", "OMP_WAIT_POLICY", "COURSEBOT_MODELS_DIR", "COURSEBOT_ANSWER_CACHE_MINUTES")
    keep = {k: v for k, v in os.environ.items() if k in inherited}
    return {**keep, **{k: str(v) for k, v in values.items()}}
