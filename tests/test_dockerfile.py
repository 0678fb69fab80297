"""Dockerfile: no Docker engine runs here, so its build commands are run by hand: the COPY'd tree builds into a
wheel that carries every package and command, and the HEALTHCHECK command works from that wheel alone."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for name, args in instructions():
        if name == "FROM":
            out.append([])
        out[-1].append((name, args))
    return out


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def exec_form(args: str) -> list[str]:
    return json.loads(args[args.index("["):])


def test_multi_stage_non_root_with_volumes_and_a_healthcheck():
    build, runtime = stages()
    assert build[0][1].startswith("python:3.11") and runtime[0][1].startswith("python:3.11")
    final = dict(runtime)
    assert final["USER"] not in ("root", "0")
    assert any(op == "RUN" and "tesseract-ocr-spa" in args for op, args in runtime)  # photos and scans are read
    assert set(exec_form(final["VOLUME"])) == {"/data", "/models"}
    env = dict(pair.split("=", 1) for pair in shlex.split(final["ENV"]))
    assert env["COURSEBOT_DATA_DIR"] == "/data" and env["COURSEBOT_MODELS_DIR"] == "/models"
    scripts = pyproject()["project"]["scripts"]
    commands = pyproject()["project"]["entry-points"]["coursebot.commands"]
    health = exec_form(final["HEALTHCHECK"])
    assert health[:2] == ["coursebot", "status"] and health[0] in scripts
    assert exec_form(final["CMD"]) == ["coursebot", "serve"] and "serve" in commands


def test_build_flags_and_pins_match_setup_and_pyproject():
    env = dict(pair.split("=", 1) for pair in shlex.split(dict(stages()[0])["ENV"]))
    setup = (REPO / "scripts/setup.sh").read_text()
    default = re.search(r'LLAMA_CMAKE_ARGS="\$\{LLAMA_CMAKE_ARGS:-([^}]*)\}"', setup).group(1)
    assert env["CMAKE_ARGS"].split() == default.split()  # the image gets the wheel setup.sh builds
    pin = next(d for d in pyproject()["project"]["dependencies"] if d.startswith("llama-cpp-python"))
    assert pin in dict(stages()[0])["RUN"]


@pytest.mark.timeout(300)
def test_the_build_stage_commands_produce_a_working_install(tmp_path, settings):
    """COPY the same paths into a fresh source tree, run the stage's `pip wheel` (our package; llama-cpp-python
    is the cached wheel setup.sh built), install the wheel apart and run the HEALTHCHECK command from it."""
    src = tmp_path / "src"
    src.mkdir()
    for name, args in stages()[0]:
        if name == "COPY":
            *sources, dest = args.split()
            for source in sources:
                target = src / (source if dest.endswith("/") or dest == "./" else dest)
                copy = shutil.copytree if (REPO / source).is_dir() else shutil.copy
                copy(REPO / source, target, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                               if (REPO / source).is_dir() else {}))
    wheels = tmp_path / "wheels"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "--wheel-dir", wheels, "."], cwd=src, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    wheel = next(wheels.glob("coursebot-*.whl"))
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    env = {**os.environ, "PYTHONPATH": str(site), "WEAVIATE_URL": settings.weaviate_url,
           "WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port), "COURSEBOT_DATA_DIR": str(tmp_path / "data"),
           "COURSEBOT_MODELS_DIR": str(settings.models_dir), "COURSEBOT_COLLECTION": settings.collection}
    probe = ("import json, knowledge, bot, adapters; from importlib.metadata import distribution; "
             "d = distribution('coursebot'); "
             "print(json.dumps({'files': [m.__file__ for m in (knowledge, bot, adapters)], "
             "'commands': sorted(e.name for e in d.entry_points if e.group == 'coursebot.commands'), "
             "'scripts': sorted(e.name for e in d.entry_points if e.group == 'console_scripts')}))")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert all(f.startswith(str(site)) for f in found["files"])  # the wheel's copy, not the working tree
    assert found["commands"] == sorted(pyproject()["project"]["entry-points"]["coursebot.commands"])
    assert found["scripts"] == ["coursebot"]

    health = exec_form(dict(stages()[1])["HEALTHCHECK"])
    done = subprocess.run([sys.executable, "-c", "from knowledge.cli import main; main()", *health[1:]], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["server_up"] and status["weaviate_url"] == settings.weaviate_url
