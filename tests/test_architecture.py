"""The house rules (docs/architecture.md), read from the code's own imports — at module level and inside functions:
dependencies point one way (bot → knowledge, adapters → knowledge, bench → bot and knowledge; nothing imports bot
but bench and tests), there are no import circles, and no module is over ~400 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("knowledge", "bot", "adapters", "bench")
ALLOWED = {"knowledge": {"knowledge"}, "bot": {"bot", "knowledge"}, "adapters": {"adapters", "knowledge"},
           "bench": {"bench", "bot", "knowledge"}}
MAX_LINES = 450  # "~400": a module a newcomer reads in one sitting



def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, anywhere in its file (imports inside functions count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own __init__
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_dependencies_point_one_way():
    wrong = sorted(f"{a} imports {b}" for a, targets in graph().items() for b in targets
                   if b.split(".")[0] not in ALLOWED[a.split(".")[0]])
    assert wrong == []


def test_there_are_no_import_circles():
    edges, circles = graph(), []
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_graph_check_sees_a_circle_and_a_wrong_way_import(tmp_path, monkeypatch):
    """The checks above can fail: a circle and an import of bot from knowledge, planted in a copy of the tree."""
    for package in ("knowledge", "bot"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "knowledge" / "a.py").write_text("from .b import x\n")
    (tmp_path / "knowledge" / "b.py").write_text("def f():\n    from knowledge.a import y\n    from bot import app\n")
    (tmp_path / "bot" / "app.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    edges = graph()
    assert edges["knowledge.a"] == {"knowledge.b"} and edges["knowledge.b"] >= {"knowledge.a", "bot.app"}
    with pytest.raises(AssertionError):
        test_there_are_no_import_circles()
    with pytest.raises(AssertionError):
        test_dependencies_point_one_way()


def test_modules_read_in_one_sitting():
    lines = {path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8").count("\n")
             for path in modules().values()}
    long = sorted(f"{name}: {n} lines" for name, n in lines.items() if n > MAX_LINES)
    assert long == [], "split by feature: " + "; ".join(long)


def test_every_module_imports_in_a_fresh_interpreter():
    """No module depends on another having been imported first (imports inside functions hide such orders)."""
    names = sorted(modules())
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
