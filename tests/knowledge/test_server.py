"""The managed weaviate-server: start on free loopback ports, reuse, restart with data kept, clean stop."""

import os
from pathlib import Path

import pytest

from knowledge.core import Knowledge
from knowledge.errors import EmbedderMismatch, StoreUnavailable
from knowledge.server import WeaviateServer, _running, is_ready
from knowledge.settings import CACHE_DIR, Settings
from knowledge.store import ChunkStore

BINARY = Path(os.environ.get("COURSEBOT_WEAVIATE_BIN", CACHE_DIR / "bin" / "weaviate-server"))


@pytest.fixture
def managed(tmp_path, monkeypatch):
    monkeypatch.delenv("WEAVIATE_URL", raising=False)
    return Settings(data_dir=tmp_path / "data", weaviate_bin=BINARY, collection="Managed", _env_file=None)


def test_data_survives_a_restart_and_a_running_server_is_reused(managed, sample_course):
    with Knowledge(managed) as kb:
        server = kb.server
        assert server.owned and server.url.startswith("http://127.0.0.1:")
        kb.indexer.ingest([sample_course / "programa.md"])
        count = kb.store.count()
        with Knowledge(managed) as second:  # same data dir: reuses the running server, leaves it running
            assert not second.server.owned and second.server.pid == server.pid
            assert second.store.count() == count
        assert is_ready(server.http_port)
    assert not is_ready(server.http_port)  # the owner stopped it
    with Knowledge(managed) as kb:
        assert kb.store.count() == count > 0
        assert kb.retriever.search("horario de atención", k=1)[0].file == "programa.md"


def test_server_that_dies_at_start_reports_its_log(tmp_path):
    fake = tmp_path / "weaviate-server"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(StoreUnavailable, match="boom: cannot start"):
        WeaviateServer(fake, tmp_path / "w").start(timeout=10)


def test_missing_binary_names_the_alternatives(tmp_path):
    with pytest.raises(StoreUnavailable, match="WEAVIATE_URL"):
        WeaviateServer(tmp_path / "nope", tmp_path / "w").start()


def test_querying_with_another_embedder_is_refused(kb):
    other = ChunkStore(kb.client, kb.store.name, "SomeOtherEmbedding:model-x")
    with pytest.raises(EmbedderMismatch, match="re-index"):
        other.ensure()


def test_a_terminated_process_stops_the_server_it_started(tmp_path):
    """`kill PID` (cron timeouts, systemd, docker stop) must not orphan weaviate-server."""
    import json
    import signal
    import subprocess
    import sys
    import time

    script = ("import sys, time\nfrom pathlib import Path\nfrom knowledge.server import WeaviateServer\n"
              f"with WeaviateServer(Path({str(BINARY)!r}), Path({str(tmp_path)!r})) as s:\n"
              "    print(s.pid, flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(proc.stdout.readline())
        assert json.loads((tmp_path / "server.json").read_text())["pid"] == server_pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists(f"/proc/{server_pid}"):
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{server_pid}")
        assert not (tmp_path / "server.json").exists()
    finally:
        proc.kill()
        proc.wait()


def server_user(data_dir: Path):
    """A process that starts (or joins) the data dir's server, prints its pid and leaves at a line on stdin."""
    import subprocess
    import sys

    script = ("import sys\nfrom pathlib import Path\nfrom knowledge.server import WeaviateServer\n"
              f"with WeaviateServer(Path({str(BINARY)!r}), Path({str(data_dir)!r})) as s:\n"
              "    print(s.pid, flush=True)\n    sys.stdin.readline()\n")
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_server_started_by_a_short_job_stays_up_for_a_process_that_joined_it(tmp_path):
    """cron's refresh starts the server, the bot joins it, the refresh ends: the bot keeps its Weaviate, and
    the server stops when the bot, its last user, leaves."""
    import signal

    job = server_user(tmp_path)
    try:
        server_pid = int(job.stdout.readline())
        bot = WeaviateServer(BINARY, tmp_path).start()
        assert not bot.owned and bot.pid == server_pid
        job.stdin.write("\n")
        job.stdin.flush()
        assert job.wait(60) == 0  # the job left...
        assert is_ready(bot.http_port)  # ...and the server is still there for the bot
        bot.stop()  # the last user leaves: the server stops
        assert not is_ready(bot.http_port) and not (tmp_path / "server.json").exists()
    finally:
        job.send_signal(signal.SIGTERM)
        job.wait()


def test_two_processes_starting_at_once_share_one_server_and_the_last_one_out_stops_it(tmp_path):
    """A cron refresh and `coursebot eval` starting together on one data dir: one server, not two."""
    jobs = [server_user(tmp_path) for _ in range(2)]
    try:
        pids = [int(job.stdout.readline()) for job in jobs]
        assert pids[0] == pids[1]
        for job in jobs:
            job.stdin.write("\n")
            job.stdin.flush()
            assert job.wait(60) == 0
        assert not _running(pids[0]) and not (tmp_path / "server.json").exists()  # (a zombie at most)
    finally:
        for job in jobs:
            job.kill()
            job.wait()
        for proc in Path("/proc").glob("[0-9]*"):  # a server left behind (a second one) must not outlive the test
            try:
                if proc.joinpath("cwd").resolve() == tmp_path.resolve() and _running(int(proc.name)):
                    os.kill(int(proc.name), 9)
            except OSError:
                pass
