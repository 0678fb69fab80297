"""A real OpenAI-compatible generator server for tests: llama-cpp-python's `llama_cpp.server` on a free loopback
port, as a subprocess (started, stopped, killed and restarted on the same port by the tests), and a fault proxy
in front of it that answers 503/429, stalls or cuts a stream the way a busy or dying server does."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.server import server_command
from knowledge.answer.remote import text_of
from knowledge.server import free_port


class LlamaServer:
    def __init__(self, model: Path, log_dir: Path, n_ctx: int = 1024, threads: int = 2, port: int | None = None,
                 lora: Path | None = None, api_key: str | None = None):
        self.model, self.n_ctx, self.threads, self.lora, self.api_key = model, n_ctx, threads, lora, api_key
        self.port = port or free_port()
        self.log = log_dir / f"llama-server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> LlamaServer:
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as e:
            pytest.fail(f"llama-cpp-python's server extras are missing ({e}): run make setup")
        command = server_command(self.model, self.port, self.threads, self.n_ctx, self.lora, self.api_key)
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"llama_cpp.server exited {code}:\n{self.log.read_text()[-3000:]}")
            try:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                if httpx.get(f"{self.url}/v1/models", headers=headers, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout:g} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


def has_text(line: str) -> bool:
    return line.startswith("data:") and not line.endswith("[DONE]") and bool(text_of(json.loads(line[5:])))


class FaultProxy:
    """Forwards to `upstream`, unless a fault is queued: `fail(status, n)` answers the next n requests with that
    status; `stall(seconds)` forwards the next stream's first event and then goes silent; `cut()` closes the
    connection after the next stream's first event. Counts the chat requests it saw."""

    def __init__(self, upstream: str):
        self.upstream, self.port = upstream, free_port()
        self.faults: list[tuple] = []
        self.requests = 0
        self.bodies: list[bytes] = []  # every chat request, as the bot sent it
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.forward(self, "GET")

            def do_POST(self):
                proxy.forward(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        self.faults += [("status", status, retry_after)] * times

    def stall(self, seconds: float) -> None:
        self.faults.append(("stall", seconds))

    def cut(self) -> None:
        self.faults.append(("cut",))

    def forward(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        chat = handler.path.endswith("/chat/completions")
        self.requests += chat
        if chat:
            self.bodies.append(body)
        fault = self.faults.pop(0) if chat and self.faults else None
        if fault and fault[0] == "status":
            payload = b'{"error": {"message": "busy"}}'
            handler.send_response(fault[1])
            if fault[2] is not None:
                handler.send_header("Retry-After", f"{fault[2]:g}")
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        with httpx.Client(timeout=120) as client, client.stream(
                method, self.upstream + handler.path, content=body,
                headers={k: v for k, v in handler.headers.items()
                         if k.lower() in ("content-type", "authorization")}) as upstream:
            handler.send_response(upstream.status_code)
            handler.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
            handler.send_header("Connection", "close")
            handler.end_headers()
            for line in upstream.iter_lines():
                handler.wfile.write(line.encode() + b"\n")
                handler.wfile.flush()
                if fault and has_text(line):  # the student has seen a first token
                    handler.wfile.write(b"\n")
                    handler.wfile.flush()
                    if fault[0] == "stall":
                        time.sleep(fault[1])
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
        handler.close_connection = True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
