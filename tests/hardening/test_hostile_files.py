"""Hostile files through both doors — `coursebot ingest PATH` and an admin's upload to the bot: each is refused
with a message naming its failure and changes nothing (index, registry, materials folder, staging area), or is
indexed keeping only what is safe. The cases live in tests/hardening/hostile.py."""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import materials
from knowledge.cli import app as cli_app
from knowledge.core import Knowledge
from knowledge.ingest.filetypes import sanitize_filename
from knowledge.ingest.readers import MAX_OUTPUT_CHARS
from knowledge.registry import get_source, list_sources
from knowledge.settings import Settings
from tests.bot.test_app import ADMIN, STUDENT, Harness, indexed_course, play
from tests.conftest import MODELS_DIR, SAMPLE_COURSE
from tests.hardening import hostile
from tests.hardening.hostile import (
    CASES,
    HTML_VISIBLE,
    NOTEBOOK_CODE,
    NOTEBOOK_OUTPUT_LINE,
    WINDOWS_RESERVED,
    Case,
    chunks_of,
    snapshot,
)
from tests.postgres import suite_database_url

pytestmark = pytest.mark.timeout(240)

QUESTION = "¿Cuánto vale el proyecto final en la nota?"


def params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id) for c in cases]


# -- fixtures: the files once per module, a course for each door -------------------------------------
class Workshop:
    """Each case's file, generated once per module (the 3000-page PDF and the bombs take seconds)."""

    def __init__(self, root: Path):
        self.root, self.made = root, {}

    def path(self, case: Case) -> Path:
        if case.id not in self.made:
            folder = self.root / case.id
            folder.mkdir()
            self.made[case.id] = case.make(folder)
        return self.made[case.id]

    def data(self, case: Case) -> bytes:
        return self.path(case).read_bytes()


@pytest.fixture(scope="module")
def workshop(tmp_path_factory) -> Workshop:
    return Workshop(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def bot_course(weaviate_server, tmp_path_factory):
    """The syllabus indexed from the bot's materials folder, the tiny model answering: (settings, kb)."""
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("bot"), only=("programa.md",)) as course:
        yield course


@dataclass
class CliCourse:
    kb: Knowledge
    env: dict[str, str]


@pytest.fixture(scope="module")
def cli_course(weaviate_server, tmp_path_factory):
    """A data dir and collection of its own, the syllabus already indexed, for the CLI to work on."""
    data = tmp_path_factory.mktemp("cli") / "data"
    data.mkdir()
    settings = Settings(data_dir=data, weaviate_url=weaviate_server.url, weaviate_grpc_port=weaviate_server.grpc_port,
                        models_dir=MODELS_DIR, collection=f"Cli_{os.urandom(6).hex()}",
                        database_url=suite_database_url(), _env_file=None)
    env = {"COURSEBOT_DATA_DIR": str(data), "WEAVIATE_URL": weaviate_server.url,
           "WEAVIATE_GRPC_PORT": str(weaviate_server.grpc_port), "COURSEBOT_COLLECTION": settings.collection}
    if settings.database_url:  # make test-postgres: the CLI writes the registry the test reads
        env["DATABASE_URL"] = settings.database_url
    with Knowledge(settings) as kb:
        kb.indexer.ingest([SAMPLE_COURSE / "programa.md"])
        try:
            yield CliCourse(kb, env)
        finally:
            kb.store.drop()


def cli(course: CliCourse, monkeypatch, *args: str):
    for key in ("COURSEBOT_MATERIALS_DIR", "DATABASE_URL", "COURSEBOT_MAX_FILE_MB", "COURSEBOT_MAX_PAGES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in course.env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(cli_app, list(args))


def assert_safe_chunks(kb: Knowledge, doc_id: str, case: Case) -> list[dict]:
    chunks = chunks_of(kb, doc_id)
    assert chunks, f"{doc_id} has no chunks"
    stored = json.dumps(chunks, ensure_ascii=False, default=str)
    for text in case.absent:
        assert text not in stored, f"{text!r} reached a chunk of {doc_id}"
    for chunk in chunks:  # labels students see: no control or bidi-override characters
        assert not any(unicodedata.category(ch)[0] == "C" for ch in chunk["title"] + chunk["section"])
    texts = "\n".join(c["text"] for c in chunks)
    if case.id == "html-scripts-styles-handlers":
        assert HTML_VISIBLE in texts
    if case.id == "notebook-huge-outputs":
        assert NOTEBOOK_CODE in texts
        assert texts.count("MARKER_OUTPUT") <= MAX_OUTPUT_CHARS // len(NOTEBOOK_OUTPUT_LINE) + 1
        assert len(texts) < 2 * MAX_OUTPUT_CHARS + 200  # 16 MB in, a few lines kept
    return chunks


# -- the CLI -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", params([c for c in CASES if c.cli]))
def test_cli_ingest(case, cli_course, workshop, monkeypatch):
    kb = cli_course.kb
    path = workshop.path(case)
    inputs = sorted(p.name for p in path.parent.iterdir())
    before = snapshot(kb)
    result = cli(cli_course, monkeypatch, "ingest", str(path), "--json")
    report = json.loads(result.stdout)
    if case.refused:
        assert result.exit_code == 3, result.output  # EXIT_PARTIAL: a file failed
        assert report["added"] == report["changed"] == [] and report["chunks_written"] == 0
        [failure] = report["failed"]
        assert case.error in failure["error"]
        after = snapshot(kb)
        assert (after.checksum, after.count, after.chunks) == (before.checksum, before.count, before.chunks)
        # The registry only gains the failure, as /documentos and `sources list` show it; no indexed source.
        with kb.sessions() as s:
            row = get_source(s, kb.collection_name, failure["file"])
            assert row is None or (not row.indexed and case.error in row.error and row.chunk_count in (0, None))
        if row is not None:
            kb.indexer.remove(failure["file"])
    else:
        doc_id = case.cli_id or case.stored
        assert result.exit_code == 0, result.output
        assert report["added"] == [doc_id] and report["failed"] == []
        chunks = assert_safe_chunks(kb, doc_id, case)
        assert all(c["file"] == doc_id for c in chunks)  # the id is the name relative to the folder: no '..'
        assert not Path(doc_id).is_absolute() and ".." not in Path(doc_id).parts
        assert kb.store.chunk_counts() == {**before.chunks, doc_id: len(chunks)}
        kb.indexer.remove(doc_id)
    assert snapshot(kb) == before
    assert sorted(p.name for p in path.parent.iterdir()) == inputs  # the CLI never touches its inputs
    assert not kb.settings.resolved_materials_dir.exists()


def test_cli_ingest_of_a_path_with_a_nul_byte_is_a_clear_error(cli_course, monkeypatch):
    before = snapshot(cli_course.kb)
    result = cli(cli_course, monkeypatch, "ingest", "apuntes\x00.md")
    assert result.exit_code == 2  # a usage error, before anything is opened
    assert "Invalid value for 'paths': Value error, embedded null byte" in result.stderr
    assert snapshot(cli_course.kb) == before


def test_cli_does_not_follow_a_symlink_out_of_the_course_folder(cli_course, tmp_path, monkeypatch):
    """Regression: a link to a file outside the folder crashed the whole run (ValueError from relative_to);
    followed from the command line, it indexed the outside file."""
    kb = cli_course.kb
    outside = tmp_path / "fuera"
    outside.mkdir()
    (outside / "secreto.md").write_text("# Claves\n\nLa clave del servidor es MARKER_OUTSIDE_93ab.\n")
    course = tmp_path / "curso"
    course.mkdir()
    (course / "apuntes.md").write_text(hostile.MD_BODY)
    (course / "enlace.md").symlink_to(outside / "secreto.md")
    before = snapshot(kb)

    result = cli(cli_course, monkeypatch, "ingest", str(course), "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["added"] == ["apuntes.md"]
    [failure] = report["failed"]
    assert failure["file"] == "enlace.md"
    assert "enlace.md: a symbolic link to a file outside the course folder" in failure["error"]
    assert "MARKER_OUTSIDE" not in json.dumps([chunks_of(kb, f) for f in kb.store.chunk_counts()])

    result = cli(cli_course, monkeypatch, "ingest", str(course / "enlace.md"), "--json")
    assert result.exit_code == 3 and "symbolic link" in json.loads(result.stdout)["failed"][0]["error"]
    kb.indexer.remove("apuntes.md")
    assert snapshot(kb) == before
    assert (course / "enlace.md").is_symlink() and (outside / "secreto.md").is_file()


# -- the bot -------------------------------------------------------------------------------------------
def status(h: Harness) -> str:
    return h.texts(ADMIN)[-1]


@pytest.mark.parametrize("case", params(CASES))
def test_bot_upload(case, bot_course, workshop):
    settings, kb = bot_course
    data = workshop.data(case)
    before = snapshot(kb)
    final: list[str] = []

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, case.upload_name, data)
        final.append(status(h))

    play(settings, kb, scenario)
    [text] = final
    if case.refused:
        if case.bot_error:
            assert text.startswith(case.bot_error)
        else:
            assert text.startswith("❌ ") and case.error in text, text
            assert text.startswith("❌ No lo agregué: ") or text.endswith("No se guardó nada.")
        assert snapshot(kb) == before
        return
    try:
        assert text.startswith(f"✅ «{case.stored}» agregado: ") and "fragmentos indexados" in text, text
        target = settings.resolved_materials_dir / case.stored
        assert target.resolve().is_relative_to(settings.resolved_materials_dir)
        assert target.read_bytes() == data
        name = target.name
        assert name == case.stored and len(name) <= 120 and not name.startswith(".")
        assert not any(unicodedata.category(ch)[0] == "C" or ch in '/\\:*?"<>|' for ch in name)
        assert name.split(".")[0].upper() not in WINDOWS_RESERVED
        assert_safe_chunks(kb, case.stored, case)
        assert snapshot(kb).files == tuple(sorted((*before.files, case.stored)))  # the staging area is empty
    finally:  # the next case starts from the same course
        with kb.sessions() as s:
            added = [src for src in list_sources(s, kb.collection_name) if src.doc_id not in before.chunks]
        for src in added:
            materials.remove(kb, src, settings.resolved_materials_dir)
    after = snapshot(kb)
    assert (after.checksum, after.count, after.registry) == (before.checksum, before.count, before.registry)


def test_bot_checks_the_size_again_when_telegram_understates_it(bot_course, workshop):
    """The file_size Telegram reports is metadata; the downloaded bytes are checked again."""
    settings, kb = bot_course
    case = next(c for c in CASES if c.id == "over-the-size-limit")
    data = workshop.data(case)
    before = snapshot(kb)

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "enorme.txt", data, file_size=1024)
        assert status(h) == ("❌ No pude agregar «enorme.txt»: enorme.txt: 21.0 MB exceeds the limit of 20 MB\n"
                             "No se guardó nada.")

    play(settings, kb, scenario)
    assert snapshot(kb) == before


def test_bot_never_writes_through_a_symlink_in_the_materials_folder(bot_course, tmp_path):
    """A link in the materials folder pointing outside: an upload under its name is refused (the outside file
    untouched) and /reindexar reports the link instead of indexing what it points to."""
    settings, kb = bot_course
    outside = tmp_path / "secreto.md"
    outside.write_text("# Claves\n\nLa clave del servidor es MARKER_OUTSIDE_93ab.\n")
    link = settings.resolved_materials_dir / "notas.md"
    link.symlink_to(outside)
    try:
        before = snapshot(kb)

        async def scenario(h: Harness) -> None:
            await h.send_document(ADMIN, "notas.md", hostile.MD_BODY.encode())
            assert status(h).startswith("❌ No pude agregar «notas.md»: 'notas.md' points outside ")
            await h.send_text(ADMIN, "/reindexar")
            report = status(h)
            assert "0 nuevos, 0 cambiados, 0 quitados, 1 sin cambios, 1 con error" in report, report
            assert "⚠️ notas.md: notas.md: a symbolic link to a file outside the course folder" in report

        play(settings, kb, scenario)
        assert outside.read_text().endswith("MARKER_OUTSIDE_93ab.\n") and link.is_symlink()
        assert snapshot(kb) == before
    finally:
        link.unlink()


def test_the_bot_keeps_answering_a_student_while_hostile_uploads_are_refused(bot_course, workshop):
    settings, kb = bot_course
    refused = [c for c in CASES if c.id in ("pdf-3000-pages", "docx-zip-bomb", "pdf-encrypted", "png-named-md",
                                            "docx-lying-zip-headers", "notebook-invalid-json")]
    uploads = {c.upload_name: workshop.data(c) for c in refused}
    before = snapshot(kb)

    async def scenario(h: Harness) -> None:
        async def admin() -> None:
            for name, data in uploads.items():
                await h.send_document(ADMIN, name, data)

        async def student() -> None:
            await asyncio.sleep(0.05)  # once the first upload is under way
            await h.send_text(STUDENT, QUESTION)

        await asyncio.gather(admin(), student())
        answer = h.last(STUDENT)["text"]
        assert "Fuentes" in answer or answer.startswith("🤷 No encuentro esa información"), answer
        finals = [m["text"] for m in h.emu.bot_messages(ADMIN)]
        assert len(finals) == len(uploads) and all(t.startswith("❌ ") for t in finals), finals

    play(settings, kb, scenario)
    assert snapshot(kb) == before


@pytest.mark.parametrize(("raw", "safe"), [("CON.txt", "CON_.txt"), ("con.md", "con_.md"),
                                           ("COM1.tar.md", "COM1_.tar.md"), ("LPT9.pdf", "LPT9_.pdf"),
                                           ("CONSOLA.md", "CONSOLA.md")])
def test_names_windows_reserves_are_not_stored_as_such(raw, safe):
    """Regression: CON.txt was stored as is, and breaks a Windows copy or checkout of the materials folder."""
    assert sanitize_filename(raw) == safe


def test_every_case_is_covered_and_named_once():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    refusals = {c.error for c in CASES if c.refused}
    assert "error" not in refusals and all(len(e) >= 12 for e in refusals)
