"""`coursebot adapter …`: the LoRA pipeline's stages as commands, registered on the knowledge CLI through the
`coursebot.commands` entry point. Every stage works in a run folder (default DATA_DIR/adapters/default):
dataset/ → [written/ →] adapter/ → merged/ → gguf/ (GGUF + manifest.json). Options are `-s key=value` (`adapter options`
lists them); unknown ones are rejected before any work. torch is imported only by the stages that need it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from knowledge.settings import LORA_SCALE_MAX

from .artifacts import RunPaths, read_json
from .config import STAGES, Configs, parse_overrides
from .stages import ALL_STAGES, plan, run_stages

adapter_app = typer.Typer(help="LoRA fine-tuning of the answer model: dataset → train → merge → export → gate.",
                          no_args_is_help=True)
out = Console()
err = Console(stderr=True)
EXIT_GATE_FAILED = 2

RunOption = Annotated[Path | None, typer.Option("--run", help="run folder (default: DATA_DIR/adapters/default)")]
SetOption = Annotated[list[str] | None, typer.Option("--set", "-s", help="key=value; see `coursebot adapter options`")]
CourseOption = Annotated[Path | None, typer.Option(help="course folder to learn (default: the indexed course)")]


def _prepare(ctx: typer.Context, run: Path | None, pairs: list[str] | None) -> tuple:
    """Settings, checked options, run folder: everything that can be wrong is found before any long work."""
    from .base_model import prefer_passive_threads

    prefer_passive_threads()  # before any stage imports torch or llama.cpp
    logging.getLogger("adapters").setLevel(logging.INFO)  # derived numbers and slow steps, as they happen
    settings = ctx.obj
    configs = parse_overrides(pairs or [])
    return settings, configs, RunPaths(run or settings.resolved_data_dir / "adapters" / "default")


def _run(ctx: typer.Context, selected: list[str], run: Path | None, pairs: list[str] | None,
         course: Path | None = None, base: str | None = None) -> None:
    """The stages through adapters/stages.py (as scripts/train_adapter.py runs them); exit 2 on a failed gate."""
    settings, configs, paths = _prepare(ctx, run, pairs)
    if base:
        configs.train.base = base
    if len(selected) > 1:
        for line in plan(selected, configs, paths):
            typer.echo(line)
    result = run_stages(selected, settings, configs, paths, course, say=typer.echo,
                        progress=lambda line: typer.echo(line, err=True))
    if result is not None and not result["passed"]:
        raise typer.Exit(EXIT_GATE_FAILED)


@adapter_app.command("dataset")
def dataset_command(ctx: typer.Context, course: CourseOption = None, run: RunOption = None,
                    set_: SetOption = None) -> None:
    """Build training data (RAFT-style, the pipeline's own prompt format) and a held-out split."""
    _run(ctx, ["dataset"], run, set_, course)


@adapter_app.command("write")
def write_command(ctx: typer.Context, run: RunOption = None, set_: SetOption = None) -> None:
    """A stronger model writes the training answers (-s write_model=…); answers failing the checks are dropped."""
    _run(ctx, ["write"], run, set_)


@adapter_app.command("train")
def train_command(ctx: typer.Context, run: RunOption = None, set_: SetOption = None) -> None:
    """Train a LoRA adapter on the run's dataset, or its written answers (resumes from its last checkpoint)."""
    _run(ctx, ["train"], run, set_)


@adapter_app.command("merge")
def merge_command(ctx: typer.Context, run: RunOption = None, set_: SetOption = None) -> None:
    """Merge the adapter (at -s lora_scale=…, default 1) into the base; save safetensors + tokenizer + template."""
    _run(ctx, ["merge"], run, set_)


@adapter_app.command("export")
def export_command(ctx: typer.Context, run: RunOption = None, set_: SetOption = None) -> None:
    """Convert to GGUF with llama.cpp's vendored converter, quantize, write the manifest."""
    _run(ctx, ["export"], run, set_)


@adapter_app.command("gate")
def gate_command(ctx: typer.Context, run: RunOption = None, set_: SetOption = None) -> None:
    """Base vs merged vs quantized on the same answer metrics as `coursebot eval`; exit 2 when it fails."""
    _run(ctx, ["gate"], run, set_)


@adapter_app.command("run")
def run_command(ctx: typer.Context, course: CourseOption = None,
                base: Annotated[str | None, typer.Option(help="base model (GGUF name/path or HF id)")] = None,
                run: RunOption = None, set_: SetOption = None) -> None:
    """All stages: dataset → (write, when -s write_model=… is given) → train → merge → export → gate."""
    writes = any(p.partition("=")[0].strip() == "write_model" and p.partition("=")[2].strip() for p in set_ or [])
    _run(ctx, [s for s in ALL_STAGES if s != "write" or writes], run, set_, course, base)


@adapter_app.command("use")
def use_command(ctx: typer.Context, path: Annotated[Path | None, typer.Argument(
                    help="a tuned GGUF, its manifest.json, or a run folder")] = None,
                base: Annotated[bool, typer.Option("--base", help="go back to the configured generator")] = False,
                force: Annotated[bool, typer.Option(help="use it even if the gate did not pass")] = False,
                runtime_lora: Annotated[bool | None, typer.Option(
                    "--runtime-lora/--merged", help="serve the base GGUF with the adapter applied at load, or the "
                                                    "merged, quantized GGUF (default: the form the gate checked)")]
                = None,
                lora_scale: Annotated[float | None, typer.Option(
                    min=0.0, max=LORA_SCALE_MAX,
                    help="the runtime LoRA's strength: 0 = the base model, 1 = as exported (what the gate measured; "
                         "default: COURSEBOT_GENERATOR_LORA_SCALE)")] = None) -> None:
    """Serve a tuned GGUF (writes DATA_DIR/active_model.json), or go back with --base."""
    from .active import activate, deactivate, serving_mismatches

    data_dir = ctx.obj.resolved_data_dir
    if base or path is None:
        out.print("back to the configured generator" if deactivate(data_dir) else "no tuned model was active")
        return
    active = activate(data_dir, path, force, runtime_lora, lora_scale)
    scale = f" ×{lora_scale:g}" if lora_scale is not None else ""
    out.print(f"generator → {active['generator_model']}"
              + (f" + LoRA {active['generator_lora']}{scale}" if active.get("generator_lora") else ""))
    if active["improves_on_base"] is False:
        err.print("[yellow]warning:[/] the gate measured no gain over the base model on citation precision and "
                  "abstention (see `coursebot adapter status`); `coursebot adapter use --base` goes back")
    for problem in serving_mismatches(active, ctx.obj):
        err.print(f"[yellow]warning:[/] {problem}")


@adapter_app.command("speed")
def speed_command(ctx: typer.Context, run: RunOption = None,
                  prompts: Annotated[int, typer.Option(help="validation prompts to time")] = 3,
                  tokens: Annotated[int, typer.Option(help="tokens each form writes")] = 48) -> None:
    """Prompt and generation speed of the base GGUF vs the merged, quantized GGUF vs base + runtime LoRA."""
    from .artifacts import MANIFEST
    from .speed import speed

    settings, _, paths = _prepare(ctx, run, [])
    results = speed(paths.gguf / MANIFEST, prompts, tokens, settings.n_threads or 0, settings.n_ctx)
    base = next((r for r in results if r.form == "base"), results[0])
    table = Table("form", "load s", "prompt tok/s", "generated tok/s", "vs base (gen)", "prompt tokens")
    for r in results:
        table.add_row(r.form, f"{r.load_s}", f"{r.prompt_tps}", f"{r.gen_tps}", f"{r.gen_tps / base.gen_tps:.2f}×",
                      str(r.prompt_tokens))
    out.print(table)


@adapter_app.command("status")
def status_command(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The active tuned model and its manifest (provenance, gate, evaluation)."""
    from .active import read_active
    from .gate import gains
    from .report import describe_gains

    active = read_active(ctx.obj.resolved_data_dir)
    info: dict = {"active": active}
    if active:
        manifest = read_json(Path(active["manifest"]), "the manifest of the active model")
        info["manifest"] = {k: manifest.get(k) for k in ("created_at", "gguf", "base", "adapter", "data", "training",
                                                         "chat_template", "gate", "evaluation")}
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return
    if not active:
        out.print(f"no tuned model active: the generator is {ctx.obj.generator_model}")
        return
    m = info["manifest"]
    how = f"+ runtime LoRA {active['generator_lora']}" if active.get("generator_lora") else m["gguf"]["quantization"]
    out.print(f"generator: {active['generator_model']} ({how}, active since {active['activated_at']})")
    lora = m["adapter"]["lora"]
    out.print(f"base: {m['base']['spec']}; adapter r={lora['lora_r']} ×{lora.get('scale', 1.0):g}; trained "
              f"{m['training']['steps']} steps; gate: {'passed' if (m['gate'] or {}).get('passed') else 'NOT passed'}")
    gate = m["gate"] or {}
    if gate.get("served") and m.get("evaluation"):
        out.print(describe_gains(gains(m["evaluation"], gate["served"]), gate["served"]))


@adapter_app.command("options")
def options_command() -> None:
    """Every `-s key=value` option with its default (meanings in adapters/config.py)."""
    configs = Configs()
    for stage in STAGES:
        for f in dataclasses.fields(getattr(configs, stage)):
            out.print(f"{stage:>8}  {f.name} = {getattr(getattr(configs, stage), f.name)!r}")


def register(app: typer.Typer) -> None:
    app.add_typer(adapter_app, name="adapter")
