"""scripts/eval_details.py: re-scoring a recorded `coursebot eval --details` run reproduces it without generating."""

import json
import os
import subprocess
import sys
from pathlib import Path

from knowledge.core import Knowledge
from knowledge.evaluation.collection import eval_collection
from tests.conftest import REPO, TINY_MODEL

COURSEBOT = str(Path(sys.executable).parent / "coursebot")
KEYS = ("citation_precision", "citation_recall", "key_facts", "abstention", "false_abstention")


def test_rescore_reproduces_a_recorded_run_with_the_same_code(settings, sample_course, tmp_path):
    env = {**os.environ, "COURSEBOT_DATA_DIR": str(settings.data_dir), "WEAVIATE_URL": settings.weaviate_url,
           "WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port), "COURSEBOT_MODELS_DIR": str(settings.models_dir),
           "COURSEBOT_MAX_ANSWER_TOKENS": "24"}
    qa, details = sample_course / "preguntas.jsonl", tmp_path / "details.jsonl"
    try:
        ran = subprocess.run([COURSEBOT, "eval", str(qa), "--corpus", str(sample_course),
                              "--generator", str(TINY_MODEL), "--no-baseline", "--limit", "4", "--details",
                              str(details), "--json"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr[-2000:]
        result = json.loads(ran.stdout)
        recorded = result["answers"]["pipeline"]
        assert len(details.read_text().splitlines()) == 4
        evidence = result["evidence"]  # both evidence selections, on the same hits
        assert set(evidence) == {"chunks (set)", "sentences"}
        assert all(0 <= m["fact_recall"] <= 1 and m["tokens_p50"] > 0 and m["n"] >= 1 for m in evidence.values())

        script = [sys.executable, str(REPO / "scripts/eval_details.py"), str(details), "--qa", str(qa)]
        again = subprocess.run([*script, "--diagnose", "--rescore", "--corpus", str(sample_course)],
                               env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "facts in prompt" in again.stdout and ": 0 answers changed):" in again.stdout
        no_corpus = subprocess.run([*script, "--rescore"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                   timeout=120)
        assert no_corpus.returncode == 2 and "give --corpus" in no_corpus.stderr
        assert again.stdout.strip().splitlines()[-1] == " ".join(f"{k}={recorded[k]}" for k in KEYS)

        same = subprocess.run([*script, "--vs", str(details)], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)  # a run paired with itself: nothing changes
        assert same.returncode == 0, same.stderr[-2000:]
        assert "on the same 4 items: 0 better, 0 worse" in same.stdout
        assert f" {recorded['outcomes']['score']:>6}  " in same.stdout
        fewer = tmp_path / "fewer.jsonl"
        fewer.write_text("\n".join(details.read_text().splitlines()[:3]) + "\n")
        other = subprocess.run([*script, "--vs", str(fewer)], env=env, cwd=tmp_path, capture_output=True,
                               text=True, timeout=120)
        assert other.returncode == 2 and "did not answer the same items" in other.stderr
    finally:
        with Knowledge(settings) as kb:
            kb.with_collection(eval_collection(sample_course, settings)).store.drop()
