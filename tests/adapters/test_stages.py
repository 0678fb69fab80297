"""adapters/stages.py: the one place both front ends run the stages from — checks before work, the banner, the
pipeline order, and the same artifacts and lines from `coursebot adapter` as from run_stages."""

import json

import pytest
from typer.testing import CliRunner

from adapters.artifacts import DATASET_CONFIG, TRAIN, RunPaths, read_jsonl
from adapters.config import Configs, TrainConfig, as_dict, parse_overrides
from adapters.errors import ArtifactMissing, ConfigError
from adapters.stages import ALL_STAGES, check, plan, run_stages
from tests.adapters.conftest import adapter_cli


def test_the_stage_list_is_checked_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) \['deploy'\]; choose from dataset, write"):
        check(["train", "deploy"], Configs())
    with pytest.raises(ConfigError, match="the write stage needs --write_model=MODEL.gguf"):
        check(["write"], Configs())
    check(["write"], parse_overrides(["write_model=x.gguf"]))  # named: fine
    with pytest.raises(ConfigError, match="not a folder"):
        check(["dataset"], Configs(), tmp_path / "absent")
    with pytest.raises(ConfigError, match="unknown stage"):  # run_stages checks too, before it touches the run
        run_stages(["deploy"], None, Configs(), RunPaths(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_the_banner_follows_the_runs_adapter_unless_this_run_trains_one(tmp_path):
    run = RunPaths(tmp_path / "run")
    run.adapter.mkdir(parents=True)
    trained = TrainConfig(base="trained.gguf", lora_r=4)
    (run.adapter / "train_config.json").write_text(json.dumps({"config": as_dict(trained)}), encoding="utf-8")
    today = parse_overrides(["base=today.gguf", "max_steps=7"])
    later = plan(["merge", "export"], today, run)
    assert later[0] == f"run folder   {run.root}" and later[1] == "stages       merge → export"
    assert later[2].startswith("base         trained.gguf (LoRA r=4,")
    training = plan(["train", "merge"], today, run)
    assert training[2].startswith("base         today.gguf (LoRA r=16,") and "; 7 steps" in training[3]


def test_stages_run_in_pipeline_order_whatever_order_they_are_named(tmp_path, settings):
    # merge comes before gate: on an empty run it is merge's missing input that stops the run, and nothing is said
    said = []
    with pytest.raises(ArtifactMissing, match=r"adapter/train_config.json not found: run the train stage first"):
        run_stages(["gate", "merge"], settings, Configs(), RunPaths(tmp_path / "run"), say=said.append)
    assert said == [] and not (tmp_path / "run" / "merged").exists()
    assert ALL_STAGES.index("merge") < ALL_STAGES.index("gate")


def test_the_cli_and_run_stages_build_the_same_dataset_and_say_the_same(tmp_path, settings, sample_course):
    settings.resolved_data_dir.mkdir(parents=True)
    options = ["offtopic=2", "heldout_share=0.3"]
    said = []
    direct = RunPaths(tmp_path / "direct")
    assert run_stages(["dataset"], settings, parse_overrides(options), direct, sample_course, say=said.append) is None
    assert len(said) == 1 and said[0].startswith("dataset      ") and said[0].endswith(f"→ {direct.dataset}")
    cli = RunPaths(tmp_path / "cli")
    done = CliRunner().invoke(adapter_cli(settings), ["adapter", "dataset", "--course", str(sample_course),
                                                      "--run", str(cli.root), *(f"-s{o}" for o in options)])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == said[0].replace(str(direct.dataset), str(cli.dataset))
    assert read_jsonl(cli.dataset / TRAIN) == read_jsonl(direct.dataset / TRAIN)
    config = json.loads((cli.dataset / DATASET_CONFIG).read_text())
    assert config["config"]["course_dir"] == str(sample_course.resolve())
