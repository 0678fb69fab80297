"""COURSEBOT_WEAVIATE_REPLICATION on a real three-node Weaviate cluster on loopback: the course survives a node
killed with SIGKILL (same top-k, a refresh completes), and the node that comes back converges."""

import shutil
import time
import uuid
from pathlib import Path

import pytest
import weaviate.classes as wvc

from knowledge.core import Knowledge
from knowledge.settings import Settings
from knowledge.store import connect
from tests.conftest import MODELS_DIR, TINY_MODEL, weaviate_binary
from tests.weaviate_cluster import WeaviateCluster

# over a minute (three nodes start, one is killed and repaired): `make test-all` runs it
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

QUESTIONS = ["¿Cuándo es el horario de atención?", "¿Qué es la validación cruzada?", "¿Cuánto vale el proyecto final?"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = WeaviateCluster(weaviate_binary(), tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


def settings_for(cluster, tmp_path: Path, collection: str, replication: int, node: int = 0) -> Settings:
    first = cluster.nodes[node]
    return Settings(data_dir=tmp_path / "data", weaviate_url=first.url, weaviate_grpc_port=first.grpc,
                    models_dir=MODELS_DIR, collection=collection, weaviate_replication=replication,
                    generator_model=str(TINY_MODEL), _env_file=None)


def local_view(node, collection: str) -> tuple[int, str]:
    """(objects, digest of ids and text hashes) as this node reads them at consistency ONE (its own replica)."""
    client = connect(node.url, node.grpc)
    try:
        objects = client.collections.get(collection).with_consistency_level(wvc.config.ConsistencyLevel.ONE)
        rows = sorted(f"{o.uuid}:{o.properties.get('text_sha')}" for o in objects.iterator(
            return_properties=["text_sha"]))
        [here] = [n for n in client.cluster.nodes(collection=collection, output="verbose") if n.name == node.name]
        return sum(s.object_count for s in here.shards or []), str(hash(tuple(rows))) + f"/{len(rows)}"
    finally:
        client.close()


def test_a_replicated_course_survives_a_killed_node_and_the_node_converges_when_back(cluster, sample_course,
                                                                                     tmp_path):
    course = tmp_path / "course"
    shutil.copytree(sample_course, course, ignore=shutil.ignore_patterns("*.jsonl"))
    leader = cluster.leader()
    victim = (leader + 1) % 3  # a follower (see docs/scaling.md for what losing the Raft leader does)
    settings = settings_for(cluster, tmp_path, f"Test_{uuid.uuid4().hex[:12]}", replication=3, node=leader)
    settings.resolved_data_dir.mkdir(parents=True)
    with Knowledge(settings) as kb:
        assert kb.store.replication_factor() == 3
        kb.indexer.refresh(course)
        retriever = kb.answerer.retriever  # the bot's: one for the life of the process
        before = {q: [h.node_id for h in retriever.search(q)] for q in QUESTIONS}
        count = kb.store.count()

        cluster.kill(victim)
        during = {q: [h.node_id for h in retriever.search(q)] for q in QUESTIONS}
        assert during == before  # reads need a quorum: two of three copies answer
        (course / "anuncio.md").write_text("# Anuncio\n\nEl examen parcial se mueve al jueves de la semana cinco.\n",
                                           encoding="utf-8")
        report = kb.indexer.refresh(course)  # writes need a quorum too: two of three
        assert not report.failed and "anuncio.md" in report.added and report.chunks_written > 0
        changed = {q: [h.node_id for h in retriever.search(q)] for q in QUESTIONS}  # the new course, two nodes

        cluster.restart(victim)
        grown = kb.store.count()  # (an aggregate sent to a node that just died waits out the client's timeout)
        assert grown == count + report.chunks_written
        deadline, views = time.monotonic() + 120, []
        while time.monotonic() < deadline:  # async replication repairs the node that missed the refresh
            views = [local_view(node, settings.collection) for node in cluster.nodes]
            if all(v == views[0] for v in views) and views[0][0] == grown:
                break
            time.sleep(2)
        assert all(v == views[0] for v in views) and views[0][0] == grown, views
        assert {q: [h.node_id for h in retriever.search(q)] for q in QUESTIONS} == changed  # three nodes again
        kb.store.drop()
