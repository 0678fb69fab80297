"""What people read: the loss curve (PNG), the base vs merged vs quantized vs runtime-LoRA table, the gate's
verdict."""

from __future__ import annotations

from pathlib import Path

SYSTEMS = ("base", "merged", "quantized", "lora")
OUTCOMES = ("score", "correct", "missed", "wrong")  # the headline first (knowledge/evaluation/outcomes.py)
METRICS = ("citation_precision", "citation_recall", "key_facts", "abstention", "false_abstention",
           "words_per_answer", "total_p50_ms", "n")


def plot_losses(train: list[list[float]], val: list[list[float]], path: Path) -> Path:
    """Training loss per step (and its running mean) with the validation loss on top."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        steps, losses = zip(*train, strict=True)
        ax.plot(steps, losses, color="tab:blue", alpha=0.35, linewidth=1, label="train")
        window = max(1, len(losses) // 20)
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                  for i in range(len(losses))]
        ax.plot(steps, smooth, color="tab:blue", linewidth=2, label=f"train (mean of {window})")
    if val:
        steps, losses = zip(*val, strict=True)
        ax.plot(steps, losses, "o-", color="tab:orange", linewidth=2, label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per answer token")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def side_by_side(evaluation: dict) -> list[list[str]]:
    """Rows [eval set, metric, base, merged, quantized, lora] for the gate's table: the headline outcome shares
    and score first, then the component metrics."""
    rows = []
    for name, systems in evaluation.items():
        for metric in OUTCOMES:
            rows.append([name, metric, *(_fmt(metric, (systems.get(s, {}).get("outcomes") or {}).get(metric))
                                         for s in SYSTEMS)])
        for metric in METRICS:
            rows.append([name, metric, *(_fmt(metric, systems.get(s, {}).get(metric)) for s in SYSTEMS)])
    return rows


def describe_gains(g: dict, served: str) -> str:
    """For people: 'lora vs base: heldout score +0.120, citation_precision +0.100 …', then one line per set
    comparing the two item by item."""
    if not g["vs_base"]:
        return "no base GGUF to compare the tuning with"
    sets = "; ".join(f"{name} " + ", ".join(f"{m} {d:+.3f}" for m, d in ds.items())
                     for name, ds in g["vs_base"].items())
    head = f"{served} vs base: {sets} — " + ("the tuning improves on the base" if g["improves"]
                                             else "the tuning does NOT improve on the base")
    return "\n".join([head, *(f"{name}: {line}" for name, line in g.get("paired", {}).items())])


def gate_lines(result: dict, run_root: Path) -> list[str]:
    """The gate's result as text: the table, which base answers were reused, the gains, the verdict."""
    header = ("eval set", "metric", "base", "merged", "quantized", "base+LoRA")
    widths = (10, 20, 8, 8, 10, 10)
    lines = [""] + [" ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                             enumerate(zip(row, widths, strict=True)))
                    for row in [header, *side_by_side(result["evaluation"])]]
    lines += [f"{name}: the base's answers reused from its evaluation of {when} (same model, items, index and code)"
              for name, when in result["base_reused"].items()]
    lines += ["", describe_gains(result["gains"], result["served"]), ""]
    served = f"{result['served']} vs merged"
    if result["passed"]:
        lines.append(f"gate passed ({served}): `coursebot adapter use {run_root}` serves it")
    else:
        lines.append(f"gate FAILED ({served}): " + "; ".join(result["reasons"]))
    return lines


def _fmt(metric: str, value) -> str:
    if value is None:
        return "—"
    if metric.endswith("_ms"):
        return f"{value:.0f}"
    if metric == "words_per_answer":
        return f"{value:.1f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def worth_telling(done: int, total: int, every: int = 10) -> bool:
    """Whether a progress line is worth printing: the first, every `every`th and the last of `total`."""
    return done in (1, total) or done % every == 0
