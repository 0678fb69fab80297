"""The refresh job: lock, change report, regression check, and the cron script's exit codes."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from knowledge.errors import RefreshBusy
from knowledge.leases import hold
from knowledge.refresh import INDEX_LEASE, run_refresh
from tests.conftest import REPO


@pytest.fixture
def course(tmp_path, sample_course):
    folder = tmp_path / "materials"
    shutil.copytree(sample_course, folder)
    (folder / "preguntas.jsonl").unlink()  # the golden set lives outside the materials
    return folder


def test_a_second_refresh_exits_or_waits(kb, course):
    with hold(kb.sessions, INDEX_LEASE):
        with pytest.raises(RefreshBusy, match="another refresh is running"):
            run_refresh(kb, [course], wait=False)
        done = []
        waiter = threading.Thread(target=lambda: done.append(run_refresh(kb, [course], wait=True)))
        waiter.start()
        time.sleep(1.0)
        assert not done  # still waiting for the lock
    waiter.join(120)
    assert done and len(done[0].report.added) == 4


def test_report_lists_added_changed_removed_and_failed(kb, course):
    first = run_refresh(kb, [course])
    assert sorted(first.report.added) == sorted(p.relative_to(course).as_posix() for p in course.rglob("*.*"))
    (course / "programa.md").write_text("# Programa\n\nHorario de atención: viernes de 10:00 a 12:00.\n")
    (course / "Semana 02_Regularización/lectura_regularizacion.html").unlink()
    (course / "nuevo.txt").write_text("El taller 2 se entrega el lunes.")
    (course / "roto.pdf").write_bytes(b"%PDF-1.4 nada mas")
    outcome = run_refresh(kb, [course])
    r = outcome.report
    assert (r.added, r.changed, r.removed) == (["nuevo.txt"], ["programa.md"],
                                              ["Semana 02_Regularización/lectura_regularizacion.html"])
    assert [f["file"] for f in r.failed] == ["roto.pdf"] and "roto.pdf" in r.failed[0]["error"]
    assert outcome.exit_code == 3
    assert "1 nuevos, 1 modificados, 1 eliminados, 1 con error" in outcome.summary()


def test_regression_alert_when_a_relevant_document_is_removed(kb, course, sample_course):
    golden = sample_course / "preguntas.jsonl"
    first = run_refresh(kb, [course], golden=golden)
    assert first.regression is not None and first.regression.hit_at_5_after >= 0.75 and not first.regression.alert
    (course / "programa.md").unlink()
    outcome = run_refresh(kb, [course], golden=golden, max_drop=0.05)
    g = outcome.regression
    assert g.alert and outcome.exit_code == 4
    assert {q["id"] for q in g.regressed} >= {"s-01", "s-02", "s-03"}
    assert "empeoró" in outcome.summary()


def test_cron_script_exit_codes_and_json(settings, course):
    env = {**os.environ, "COURSEBOT_DATA_DIR": str(settings.data_dir), "WEAVIATE_URL": settings.weaviate_url,
           "WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port), "COURSEBOT_COLLECTION": settings.collection}
    script = [sys.executable, str(REPO / "scripts/refresh_index.py")]
    try:
        done = subprocess.run([*script, str(course), "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["report"]["added"]) == 4
        missing = subprocess.run([*script, str(course / "nope")], env=env, capture_output=True, text=True,
                                 timeout=120)
        assert missing.returncode == 1 and "not found" in missing.stderr
    finally:
        from knowledge.core import Knowledge
        with Knowledge(settings) as kb:
            kb.store.drop()
