"""README.md is a newcomer's page: small, its links alive, every docs/ page reachable, and its "Try it on the sample
course" commands working as written on this checkout."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
VENV_BIN = REPO / ".venv" / "bin"
MAX_BYTES = 8192
TRY_IT = "Try it on the sample course"

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# Variables that would point the commands at another server, database or model than a fresh checkout's; kept: where
# the machine's caches are (what `make setup` filled).
MACHINE = {"COURSEBOT_MODELS_DIR", "COURSEBOT_CACHE", "COURSEBOT_WEAVIATE_BIN"}
DROPPED_PREFIXES = ("COURSEBOT_", "WEAVIATE_", "TELEGRAM_")
DROPPED = {"DATABASE_URL", "ADMIN_IDS"}


def markdown_pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def relative_links(page: Path) -> list[tuple[str, Path]]:
    """(link as written, the file it names) for every link to a file of the repository, code blocks left out."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    links = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # https:, mailto:… and anchors within the page
        path = target.split("#", 1)[0].split("?", 1)[0]
        links.append((target, (page.parent / path).resolve()))
    return links


def test_readme_is_at_most_8_kb():
    size = len(README.read_bytes())
    assert size <= MAX_BYTES, f"README.md is {size} bytes (at most {MAX_BYTES}): move details into docs/"


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_to_files_that_exist(page):
    broken = [target for target, path in relative_links(page) if not path.exists()]
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_readme_has_relative_links_to_docs():
    assert any(path.is_relative_to(DOCS) for _, path in relative_links(README))


def test_every_docs_page_is_linked_from_the_readme_or_another_page():
    pages = sorted(DOCS.rglob("*.md"))
    assert pages, "docs/ has no pages"
    linked = {path for page in markdown_pages() for _, path in relative_links(page)
              if path != page.resolve()}
    orphans = [str(p.relative_to(REPO)) for p in pages if p.resolve() not in linked]
    assert not orphans, f"no page links to {orphans}: link them from README.md or another docs page"


def test_every_docs_page_opens_with_what_it_is_for():
    for page in sorted(DOCS.rglob("*.md")):
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(lines) >= 2 and lines[0].startswith("# ") and not lines[1].startswith("#"), (
            f"{page.relative_to(REPO)}: a title, then one line saying what the page is for")


def sample_course_commands() -> list[list[str]]:
    """The `coursebot …` lines of the bash block under the README's "Try it" heading, as argument lists."""
    text = README.read_text(encoding="utf-8")
    heading = re.search(rf"^##+ {re.escape(TRY_IT)}[ \t]*$", text, re.MULTILINE)
    assert heading, f"README.md has no '{TRY_IT}' section"
    section = re.split(r"^##+ ", text[heading.end():], maxsplit=1, flags=re.MULTILINE)[0]
    block = re.search(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block, f"no ```bash block under '{TRY_IT}'"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words in (["source", ".venv/bin/activate"], [".", ".venv/bin/activate"]):
            continue  # satisfied by running the virtualenv's own coursebot
        assert words[0] == "coursebot", f"this test only knows how to run coursebot commands, not {line!r}"
        commands.append(words[1:])
    assert commands, f"no coursebot command under '{TRY_IT}'"
    return commands


def fresh_checkout_env(data_dir: Path) -> dict[str, str]:
    """The environment of someone who ran `make setup` and `source .venv/bin/activate`, with a new data folder."""
    env = {k: v for k, v in os.environ.items()
           if k in MACHINE or not (k.startswith(DROPPED_PREFIXES) or k in DROPPED)}
    env["COURSEBOT_DATA_DIR"] = str(data_dir)
    env["VIRTUAL_ENV"] = str(REPO / ".venv")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def managed_server_pid(data_dir: Path) -> int | None:
    """The pid of a weaviate-server still running for this data folder (its state file names it), or None."""
    try:
        pid = int(json.loads((data_dir / "weaviate" / "server.json").read_text())["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if b"weaviate-server" in cmdline else None


def test_the_readme_block_parses_into_commands():
    commands = sample_course_commands()
    assert [c[0] for c in commands][:1] == ["ingest"], "the sample course is indexed before anything is asked"


@pytest.mark.timeout(600)
def test_try_it_on_the_sample_course_runs_as_written(tmp_path):
    """Each command exits 0 and prints something, in order, against a fresh data folder and the managed server
    each command starts and stops itself (no WEAVIATE_URL)."""
    coursebot = VENV_BIN / "coursebot"
    if not coursebot.is_file():
        pytest.fail(f"{coursebot} missing: run make setup")
    data_dir = tmp_path / "data"
    env = fresh_checkout_env(data_dir)
    timings = []
    try:
        for args in sample_course_commands():
            shown = shlex.join(["coursebot", *args])
            start = time.monotonic()
            result = subprocess.run([str(coursebot), *args], cwd=REPO, env=env, capture_output=True, text=True,
                                    timeout=420)
            timings.append(f"{shown}: {time.monotonic() - start:.0f} s")
            assert result.returncode == 0, (f"`{shown}` exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}"
                                            f"\nstderr:\n{result.stderr[-3000:]}")
            assert result.stdout.strip(), f"`{shown}` printed nothing\nstderr:\n{result.stderr[-3000:]}"
            assert managed_server_pid(data_dir) is None, f"`{shown}` left its weaviate-server running"
    finally:
        print("\n".join(timings))
        if (pid := managed_server_pid(data_dir)) is not None:  # a command killed by the timeout leaves its server
            os.kill(pid, signal.SIGTERM)
