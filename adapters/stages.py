"""The pipeline's stages in order, written once: `coursebot adapter …` and scripts/train_adapter.py both call
`check`, `plan` and `run_stages`, so the two front ends cannot drift apart in what a stage does or prints.

Each stage reads the previous one's folder in the run (adapters/artifacts.py names them) and `say`s one line
about what it wrote; the gate also returns its result, so a front end can exit 2 when it fails. Heavy imports
(torch, llama.cpp, Weaviate) happen inside the stage that needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from knowledge.settings import Settings

from .artifacts import MANIFEST, RunPaths, read_json
from .config import Configs, TrainConfig
from .errors import ConfigError
from .report import gate_lines, worth_telling

ALL_STAGES = ("dataset", "write", "train", "merge", "export", "gate")
Say = Callable[[str], None]


def check(selected: Sequence[str], configs: Configs, course: Path | None = None) -> None:
    """Everything about the stage list that can be wrong, found before any work (ConfigError otherwise)."""
    if unknown := [s for s in selected if s not in ALL_STAGES]:
        raise ConfigError(f"unknown stage(s) {unknown}; choose from {', '.join(ALL_STAGES)}")
    if "write" in selected and not configs.write.write_model:
        raise ConfigError("the write stage needs --write_model=MODEL.gguf (e.g. the 1.5B writing for a 0.5B run)")
    if course is not None and not Path(course).is_dir():
        raise ConfigError(f"--course={course}: not a folder")


def followed_train_config(selected: Sequence[str], configs: Configs, run: RunPaths) -> TrainConfig:
    """The training options later stages follow: the adapter's own when it is not trained in this run."""
    trained = run.adapter / "train_config.json"
    if "train" not in selected and trained.is_file():
        return TrainConfig(**read_json(trained, "the adapter's training config")["config"])
    return configs.train


def plan(selected: Sequence[str], configs: Configs, run: RunPaths) -> list[str]:
    """The banner: which run folder, which stages, which base and adapter shape, how each step is made."""
    t = followed_train_config(selected, configs, run)
    g = configs.gate
    steps = f"{t.max_steps} steps" if t.max_steps else f"{t.epochs} epochs"
    return [f"run folder   {run.root}",
            f"stages       {' → '.join(selected)}",
            f"base         {t.base} (LoRA r={t.lora_r}, alpha={t.lora_alpha}, targets={t.target_modules}, "
            f"dtype={t.dtype})",
            f"per step     {t.batch_size} examples × {t.grad_accum} accumulation = {t.batch_size * t.grad_accum} "
            f"examples, ≤ {t.max_seq_len} tokens each; {steps}",
            f"export       {configs.export.quantization}; gate: the served form (serve={g.serve}) must beat the base "
            f"on score by > {g.min_gain:g} and stay within {100 * g.max_drop:.0f} pts of merged"]


def run_stages(selected: Sequence[str], settings: Settings, configs: Configs, run: RunPaths,
               course: Path | None = None, say: Say = print, progress: Say = print) -> dict | None:
    """Run `selected` in pipeline order; `say` gets each stage's line, `progress` the lines while one works.
    Returns the gate's result when the gate ran (its `passed` decides the exit code), else None."""
    check(selected, configs, course)
    if course is not None:
        configs.dataset.course_dir = str(Path(course).resolve())
    results = {stage: STAGES[stage](settings, configs, run, say, progress) for stage in ALL_STAGES if stage in selected}
    return results.get("gate")


def _dataset(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> dict:
    """RAFT-style examples in the pipeline's own prompt format, and a held-out split."""
    from knowledge.answer.prompt import PromptShape
    from knowledge.core import Knowledge

    from .dataset import course_view, make_dataset

    course_dir = Path(configs.dataset.course_dir) if configs.dataset.course_dir else None
    shape = PromptShape.from_settings(settings, configs.dataset.course_name)
    with Knowledge(settings) as kb:
        view = course_view(kb, course_dir) if course_dir else kb
        summary = make_dataset(view, configs.dataset, shape, run.dataset, course_dir)
    c = summary["counts"]
    say(f"dataset      {c['train']} training examples ({c['train_by_kind']}), {c['val']} validation, "
        f"{c['heldout']} held-out items from {summary['source']['chunks']} chunks; checked against "
        f"{summary['leak_check']['eval_items']} evaluation questions ({c.get('dropped_eval_overlap', 0)} dropped) "
        f"→ {run.dataset}")
    return summary


def _write(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> dict:
    """A stronger model answers the training prompts; answers failing the pipeline's checks are dropped."""
    from .writer import write_stage

    w = configs.write
    summary = write_stage(run.dataset, run.written, w, settings,
                          lambda made, verdicts: progress(f"write        {made} written: {dict(verdicts)}"))
    done = summary["written"]
    say(f"write        {done['train_written']} of {done['train']} training examples written by {w.write_model} "
        f"(verdicts {done['verdicts']['train']}), {done['val_written']} validation → {run.written}")
    return summary


def _train(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> dict:
    """LoRA on CPU, loss on the answer only, resumable from the run's last checkpoint."""
    from .train import train
    from .writer import training_data

    report = train(training_data(run.dataset, run.written), run.adapter, configs.train, settings.models_dir)
    say(f"train        {report['steps_done']} steps at {report['seconds_per_step']} s/step; val loss "
        f"{report['first_val_loss']} → {report['final_val_loss']}; peak RSS {report['peak_rss_gib']} GiB "
        f"→ {run.adapter}")
    return report


def _merge(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> Path:
    """Base + adapter → one float16 transformers folder with the training chat template."""
    from .merge import merge

    merge(run.adapter, run.merged, configs.merge)
    say(f"merge        adapter at ×{configs.merge.lora_scale:g} of its trained strength → {run.merged}")
    return run.merged


def _export(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> Path:
    """The vendored llama.cpp converter, then quantization, then the manifest."""
    from .export import export

    gguf = export(run.merged, run.gguf, configs.export, settings.n_threads or 0)
    say(f"export       {configs.export.quantization} → {gguf} ({gguf.stat().st_size / 2**20:.0f} MiB)")
    return gguf


def _gate(settings: Settings, configs: Configs, run: RunPaths, say: Say, progress: Say) -> dict:
    """Base vs merged vs quantized vs runtime LoRA on `coursebot eval`'s outcomes and answer metrics."""
    from knowledge.core import Knowledge

    from .gate import gate

    def answered(what: str, done: int, total: int) -> None:
        if worth_telling(done, total):
            progress(f"gate         {what}: {done}/{total} answers")

    with Knowledge(settings) as kb:
        result = gate(kb, run.gguf / MANIFEST, configs.gate, settings, answered)
    for line in gate_lines(result, run.root):
        say(line)
    return result


STAGES = {"dataset": _dataset, "write": _write, "train": _train, "merge": _merge, "export": _export,
          "gate": _gate}
