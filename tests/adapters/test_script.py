"""scripts/train_adapter.py's own edges: options checked before any work, one error boundary, a banner that
describes the run folder's adapter when the training stage is not run."""

import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.config import TrainConfig, as_dict

REPO = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, str(REPO / "scripts/train_adapter.py")]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSEBOT_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([*SCRIPT, f"--run={tmp_path / 'run'}", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=180)


def test_unknown_options_and_stages_stop_before_any_work(tmp_path):
    unknown = run(tmp_path, "--lora_rank=8")
    assert unknown.returncode != 0 and "unknown option 'lora_rank'" in unknown.stderr
    stage = run(tmp_path, "--stages=train,deploy")
    assert stage.returncode != 0 and "unknown stage(s) ['deploy']" in stage.stderr
    assert not (tmp_path / "run").exists()


def test_a_missing_artifact_is_one_clear_line_and_the_banner_follows_the_trained_base(tmp_path):
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    trained = TrainConfig(base="trained-base.gguf", lora_r=4)
    (adapter / "train_config.json").write_text(json.dumps({"config": as_dict(trained)}), encoding="utf-8")
    done = run(tmp_path, "--stages=merge", "--base=other.gguf")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "training did not finish" in done.stderr and "Traceback" not in done.stderr
    assert "base         trained-base.gguf (LoRA r=4," in done.stdout


def test_the_write_stage_names_what_it_needs(tmp_path):
    missing = run(tmp_path, "--stages=write")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == ("error: the write stage needs --write_model=MODEL.gguf (e.g. the 1.5B "
                                      "writing for a 0.5B run)")
    absent = run(tmp_path, "--stages=write", "--write_model=absent.gguf")
    assert absent.returncode == 1 and "base model absent.gguf: no such GGUF file" in absent.stderr
    assert not (tmp_path / "run" / "written").exists()
