"""The benchmark's figures and report: each figure beside its target and a baseline measured in the same run.

Plain functions (tested without servers): targets and their verdicts, percentiles, the console row printed as
a figure is measured, and the JSON and Markdown files `coursebot bench` writes (see bench/measure.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from knowledge.evaluation.metrics import percentile  # noqa: F401  (bench's figures use the project's one)


@dataclass(frozen=True)
class Target:
    """`value <op> limit`, or `value <op> limit × baseline` when relative."""

    op: str  # "<=" | ">="
    limit: float
    relative: bool = False

    def met(self, value: float, baseline: float | None) -> bool | None:
        if self.relative and baseline is None:
            return None
        bound = self.limit * baseline if self.relative else self.limit
        return value <= bound if self.op == "<=" else value >= bound

    def text(self, unit: str) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign} {self.limit:.2f}× baseline" if self.relative else f"{sign} {fmt(self.limit)} {unit}"


def at_most(limit: float, relative: bool = False) -> Target:
    return Target("<=", limit, relative)


def at_least(limit: float, relative: bool = False) -> Target:
    return Target(">=", limit, relative)


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    target: Target | None = None
    baseline: float | None = None
    baseline_label: str = ""  # what the baseline is, e.g. "vector-only search"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def passed(self) -> bool | None:
        return self.target.met(self.value, self.baseline) if self.target else None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("section", "target")}
        d["target"] = {**asdict(self.target), "text": self.target.text(self.unit)} if self.target else None
        d["ratio"] = round(self.ratio, 3) if self.ratio is not None else None
        d["passed"] = self.passed
        return d


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def mark(passed: bool | None) -> str:
    return {True: "✓", False: "✗", None: ""}[passed]


ROW = "{:<10} {:<46} {:>16}  {:<20} {:<44} {:>7}  {}"
HEADER = ROW.format("section", "figure", "value", "target", "baseline (same run)", "×base", "ok")


def render_row(f: Figure) -> str:
    baseline = f"{fmt(f.baseline)} {f.unit} {f.baseline_label}" if f.baseline is not None else "—"
    return ROW.format(f.section, f.name, f"{fmt(f.value)} {f.unit}", f.target.text(f.unit) if f.target else "—",
                      baseline, fmt(f.ratio), mark(f.passed))


def report_dict(meta: dict, figures: list[Figure]) -> dict:
    sections: dict[str, list[dict]] = {}
    for f in figures:
        sections.setdefault(f.section, []).append(f.to_dict())
    verdicts = [f.passed for f in figures if f.passed is not None]
    return {"meta": meta, "sections": sections, "targets_met": sum(verdicts), "targets": len(verdicts)}


def render_markdown(meta: dict, figures: list[Figure]) -> str:
    lines = [f"# coursebot benchmark — {meta.get('started', '')}", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta.items() if k != "started" and not isinstance(v, dict | list)]
    lines += ["", "| section | figure | value | target | baseline (same run) | × baseline | met | note |",
              "|---|---|---|---|---|---|---|---|"]
    for f in figures:
        baseline = f"{fmt(f.baseline)} {f.unit} — {f.baseline_label}" if f.baseline is not None else "—"
        cells = [f.section, f.name, f"{fmt(f.value)} {f.unit}", f.target.text(f.unit) if f.target else "—",
                 baseline, fmt(f.ratio), {True: "yes", False: "**no**", None: ""}[f.passed], f.note]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    verdicts = [f.passed for f in figures if f.passed is not None]
    lines += ["", f"{sum(verdicts)} of {len(verdicts)} targets met.", ""]
    return "\n".join(lines)


def write_report(out_dir: Path, stamp: str, meta: dict, figures: list[Figure]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"bench-{stamp}.json", out_dir / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(report_dict(meta, figures), ensure_ascii=False, indent=2), encoding="utf-8")
    md_path.write_text(render_markdown(meta, figures), encoding="utf-8")
    return json_path, md_path
