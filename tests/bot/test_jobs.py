"""bot/jobs.py: the scheduled refresh job replaces itself, reports changes to the admins, and yields to cron."""

from __future__ import annotations

import pytest

from bot.jobs import JOB_NAME, schedule_refresh
from knowledge.leases import hold
from knowledge.refresh import INDEX_LEASE
from tests.bot.test_app import ADMIN, Harness, indexed_course, play

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("course"), only=("programa.md",),
                        refresh_interval_minutes=30, refresh_daily_at="03:00") as course:
        yield course


def test_the_refresh_job_is_scheduled_once_per_setting_and_replaces_itself(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        jobs = h.app.job_queue.get_jobs_by_name(JOB_NAME)
        assert len(jobs) == 2
        assert schedule_refresh(h.app) == ["every 30 min", "daily at 03:00 America/Bogota"]
        again = h.app.job_queue.get_jobs_by_name(JOB_NAME)
        assert len(again) == 2 and not {j.job.id for j in again} & {j.job.id for j in jobs}

    play(settings, kb, scenario)


def test_the_job_tells_the_admins_only_when_something_changed(course):
    settings, kb = course
    new = settings.resolved_materials_dir / "anuncio.md"
    new.write_text("# Anuncio\n\nDesde la semana 4 la clase se dicta en el aula 305.\n")

    async def scenario(h: Harness) -> None:
        job = h.app.job_queue.get_jobs_by_name(JOB_NAME)[0]
        await job.run(h.app)
        summary = h.texts(ADMIN)[-1]
        assert summary.startswith("🔄 Actualización del índice: 1 nuevos, 0 modificados, 0 eliminados, 0 con error")
        assert "➕ anuncio.md" in summary
        assert "anuncio.md" in kb.store.chunk_counts()
        before = len(h.emu.bot_messages(ADMIN))
        await job.run(h.app)  # nothing changed: no message
        assert len(h.emu.bot_messages(ADMIN)) == before

    play(settings, kb, scenario)


def test_a_refresh_already_running_elsewhere_is_respected(course):
    settings, kb = course
    (settings.resolved_materials_dir / "otro.md").write_text("# Otro\n\nTexto.\n")

    async def scenario(h: Harness) -> None:
        before = len(h.emu.bot_messages(ADMIN))
        with hold(kb.sessions, INDEX_LEASE):  # as cron's refresh would hold it
            await h.app.job_queue.get_jobs_by_name(JOB_NAME)[0].run(h.app)
            assert len(h.emu.bot_messages(ADMIN)) == before  # skipped quietly
            await h.send_text(ADMIN, "/reindexar")
            assert h.texts(ADMIN)[-1] == "⏳ Ya hay una actualización del índice en curso; inténtalo en unos minutos."
        assert "otro.md" not in kb.store.chunk_counts()

    play(settings, kb, scenario)


def test_a_dropped_file_is_answerable_after_the_next_scheduled_refresh(weaviate_server, tmp_path):
    """No manual step: the JobQueue fires on its own (every 3 s here), the admins hear of it, students get answers."""
    import asyncio

    from tests.bot.test_app import STUDENT

    with indexed_course(weaviate_server, tmp_path, only=("programa.md",), refresh_interval_minutes=0.05) as course:
        settings, kb = course
        (settings.resolved_materials_dir / "laboratorio.md").write_text(
            "# Laboratorio de redes neuronales\n\nEl laboratorio de redes neuronales se entrega el viernes 14 de "
            "noviembre por el aula virtual, en un cuaderno Jupyter con las celdas ejecutadas.\n")

        async def scenario(h: Harness) -> None:
            await h.app.job_queue.start()
            try:
                for _ in range(200):  # bounded: 20 s
                    if any(t.startswith("🔄 Actualización del índice") for t in h.texts(ADMIN)):
                        break
                    await asyncio.sleep(0.1)
                summary = h.texts(ADMIN)[-1]
                assert summary.startswith("🔄 Actualización del índice: 1 nuevos") and "➕ laboratorio.md" in summary
                await h.send_text(STUDENT, "¿Cuándo se entrega el laboratorio de redes neuronales?")
                searching = h.last(STUDENT)["history"][1]["text"]  # the sources shown while the answer is written
                assert searching.startswith("🔎 Buscando en: laboratorio")
            finally:
                await h.app.job_queue.stop(wait=False)

        play(settings, kb, scenario, timeout=60)


def test_a_refresh_that_cannot_run_is_reported_to_the_admins_and_reindexar_says_so(course, tmp_path):
    """Regression: a scheduled refresh failing for a reason other than "busy" was only logged, and /reindexar stayed
    on "⏳ Reindexando…" forever."""
    settings, kb = course
    gone = tmp_path / "carpeta-que-no-existe"
    broken = settings.model_copy(update={"refresh_folders": [gone]})

    async def scenario(h: Harness) -> None:
        before = len(h.emu.bot_messages(ADMIN))
        await h.app.job_queue.get_jobs_by_name(JOB_NAME)[0].run(h.app)
        [told] = h.texts(ADMIN)[before:]
        assert told.startswith("⚠️ La actualización programada del índice falló:") and str(gone) in told
        await h.send_text(ADMIN, "/reindexar")
        status = h.last(ADMIN)
        assert status["history"][0]["text"] == "⏳ Reindexando la carpeta de materiales…"
        assert status["text"].startswith("❌ No pude reindexar:") and "El índice quedó como estaba" in status["text"]

    play(broken, kb, scenario)
