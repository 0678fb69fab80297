"""docker-compose.yml and docker-compose.scale.yml: the services, volumes and healthchecks a deployment needs;
validated by the compose CLI when one is installed (no Docker engine runs here, so images are not built)."""

import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_volumes_and_healthchecks(compose):
    services = compose["services"]
    assert set(services) >= {"weaviate", "bot", "refresh"}
    weaviate = services["weaviate"]
    assert weaviate["image"].startswith("cr.weaviate.io/semitechnologies/weaviate:1.39.")
    env = weaviate["environment"]
    assert env["DISABLE_TELEMETRY"] == "true" and env["ENABLE_MODULES"] == ""
    assert env["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert "weaviate_data:/var/lib/weaviate" in weaviate["volumes"]
    assert "healthcheck" in weaviate and "healthcheck" in services["bot"]
    bot = services["bot"]
    assert bot["environment"]["WEAVIATE_URL"] == "http://weaviate:8080"
    assert bot["depends_on"]["weaviate"]["condition"] == "service_healthy"
    assert services["refresh"]["profiles"] == ["refresh"]
    assert set(compose["volumes"]) == {"weaviate_data", "bot_data"}


def test_scale_file_has_the_cluster_the_database_the_server_and_two_webhook_workers():
    scale = yaml.safe_load((REPO / "docker-compose.scale.yml").read_text())
    services = scale["services"]
    nodes = [services[f"weaviate{n}"] for n in (1, 2, 3)]
    for n, node in enumerate(nodes, 1):
        env = node["environment"]
        assert node["image"].startswith("cr.weaviate.io/semitechnologies/weaviate:1.39.")
        assert env["CLUSTER_HOSTNAME"] == f"node{n}" and env["RAFT_BOOTSTRAP_EXPECT"] == "3"
        assert env["RAFT_JOIN"] == "weaviate1,weaviate2,weaviate3" and env["CLUSTER_JOIN"] == "weaviate1:7100"
        assert f"weaviate{n}_data:/var/lib/weaviate" in node["volumes"] and "healthcheck" in node
    assert services["postgres"]["image"].startswith("postgres:") and "healthcheck" in services["postgres"]
    llama = services["llama"]
    assert llama["image"].startswith("ghcr.io/ggml-org/llama.cpp:server")
    assert "--lora" in llama["command"] and "--parallel" in llama["command"]
    workers = [services["bot1"], services["bot2"]]
    for worker in workers:
        env = worker["environment"]
        assert worker["command"] == ["coursebot", "serve", "--webhook"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and env["COURSEBOT_WEAVIATE_REPLICATION"] == "3"
        assert env["COURSEBOT_GENERATOR_URL"] == "http://llama:8081"
        assert env["TELEGRAM_WEBHOOK_URL"].endswith("/telegram")
        assert {"weaviate1", "postgres", "llama"} <= set(worker["depends_on"])
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:") and "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy bot1:8443 bot2:8443" in caddyfile and "handle /telegram" in caddyfile
    assert services["refresh"]["profiles"] == ["refresh"]


def compose_cli(cli: list[str]) -> None:
    if shutil.which(cli[0]) is None or subprocess.run([*cli, "version"], capture_output=True).returncode != 0:
        pytest.skip(f"{' '.join(cli)} is not installed")


@pytest.mark.parametrize("cli", [["docker", "compose"], ["docker-compose"]])
def test_compose_cli_accepts_the_file(cli, tmp_path):
    compose_cli(cli)
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    done = subprocess.run([*cli, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("cli", [["docker", "compose"], ["docker-compose"]])
def test_compose_cli_accepts_the_scale_file_and_requires_its_secrets(cli, tmp_path):
    compose_cli(cli)
    shutil.copy(REPO / "docker-compose.scale.yml", tmp_path)
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    command = [*cli, "-f", "docker-compose.scale.yml", "config", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in {"COURSEBOT_DOMAIN", "POSTGRES_PASSWORD"}}
    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr + refused.stdout
    env |= {"COURSEBOT_DOMAIN": "bot.example.org", "POSTGRES_PASSWORD": "not-a-real-one"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
