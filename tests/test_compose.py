"""docker-compose.yml: the services, volumes and healthchecks a deployment needs; validated by the compose
CLI when one is installed (no Docker engine runs here, so images are not built)."""

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


@pytest.mark.parametrize("cli", [["docker", "compose"], ["docker-compose"]])
def test_compose_cli_accepts_the_file(cli, tmp_path):
    if shutil.which(cli[0]) is None or subprocess.run([*cli, "version"], capture_output=True).returncode != 0:
        pytest.skip(f"{' '.join(cli)} is not installed")
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    done = subprocess.run([*cli, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
