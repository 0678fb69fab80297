"""The scheduled refresh job: pull (optional), refresh every materials folder under a lock, and re-run a
golden question set when something changed to catch retrieval regressions.

Used by `scripts/refresh_index.py` (cron), `coursebot refresh`, and the bot's JobQueue job.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import KnowledgeError
from .evaluation.metrics import first_relevant_rank, load_items
from .ingest.indexer import ChangeReport
from .leases import hold

log = logging.getLogger(__name__)

REGRESSION_K = 5
INDEX_LEASE = "index"  # held while the index changes: refreshes (cron, the bot), uploads, deletes


@dataclass
class Regression:
    hit_at_5_before: float | None
    hit_at_5_after: float
    regressed: list[dict] = field(default_factory=list)  # {"id", "question"} that were found and no longer are
    alert: bool = False


@dataclass
class RefreshOutcome:
    report: ChangeReport
    pulled: list[dict] = field(default_factory=list)  # {"folder", "ok", "output"}
    regression: Regression | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 all good, 3 some files failed or a pull failed, 4 retrieval regressed."""
        if self.regression and self.regression.alert:
            return 4
        if self.report.failed or any(not p["ok"] for p in self.pulled):
            return 3
        return 0

    def to_dict(self) -> dict:
        return {"report": self.report.to_dict(), "pulled": self.pulled,
                "regression": asdict(self.regression) if self.regression else None,
                "seconds": round(self.seconds, 2), "exit_code": self.exit_code}

    def summary(self) -> str:
        """A short Spanish summary for admins."""
        r = self.report
        lines = [f"🔄 Actualización del índice: {len(r.added)} nuevos, {len(r.changed)} modificados, "
                 f"{len(r.removed)} eliminados, {len(r.failed)} con error ({self.seconds:.0f} s)."]
        lines += [f"➕ {f}" for f in r.added[:10]] + [f"✏️ {f}" for f in r.changed[:10]]
        lines += [f"🗑 {f}" for f in r.removed[:10]] + [f"⚠️ {f['file']}: {f['error']}" for f in r.failed[:10]]
        lines += [f"⚠️ git pull en {p['folder']}: {p['output']}" for p in self.pulled if not p["ok"]]
        if self.regression and self.regression.alert:
            g = self.regression
            lines.append(f"📉 La recuperación empeoró: hit@5 {g.hit_at_5_before:.2f} → {g.hit_at_5_after:.2f}. "
                         "Preguntas afectadas:")
            lines += [f"  • {q['question']}" for q in g.regressed[:10]]
        return "\n".join(lines)


def merge(into: ChangeReport, other: ChangeReport) -> None:
    for name in ("added", "changed", "removed", "unchanged", "failed", "still_failing"):
        getattr(into, name).extend(getattr(other, name))
    into.chunks_written += other.chunks_written
    into.chunks_embedded += other.chunks_embedded


def git_pull(folder: Path, timeout: float = 120) -> dict:
    """`git pull --ff-only` in a materials folder that is a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(folder), "pull", "--ff-only", "--quiet"], capture_output=True,
                              text=True, timeout=timeout)
        return {"folder": str(folder), "ok": done.returncode == 0,
                "output": (done.stderr or done.stdout).strip()[-300:]}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"folder": str(folder), "ok": False, "output": str(e)}


def check_regression(retriever, golden: Path, state_file: Path, max_drop: float) -> Regression:
    """hit@5 of the golden set now vs the last run (stored in state_file); alert past max_drop."""
    items = [i for i in load_items(golden) if i.answerable and i.gold]
    found = {}
    for item in items:
        rank = first_relevant_rank(retriever.search(item.question, k=REGRESSION_K), item.gold)
        found[item.id] = rank is not None
    try:
        before = json.loads(state_file.read_text())
    except (OSError, ValueError):
        before = None
    after_score = sum(found.values()) / len(found) if found else 1.0
    result = Regression(before["hit_at_5"] if before else None, round(after_score, 4))
    if before:
        result.regressed = [{"id": i.id, "question": i.question} for i in items
                            if before["found"].get(i.id) and not found[i.id]]
        result.alert = bool(result.regressed) and before["hit_at_5"] - after_score > max_drop
    state_file.write_text(json.dumps({"hit_at_5": after_score, "found": found}))
    return result


def run_refresh(kb, folders: list[Path], *, pull: bool = False, golden: Path | None = None,
                max_drop: float = 0.05, wait: bool = True) -> RefreshOutcome:
    """Refresh the folders under the index lease (every worker and cron job sharing the database agree on it);
    raises RefreshBusy if another refresh holds it and wait is False."""
    start = time.monotonic()
    data_dir = kb.settings.resolved_data_dir
    with hold(kb.sessions, INDEX_LEASE, wait=wait):
        outcome = RefreshOutcome(ChangeReport())
        for folder in folders:
            if not folder.is_dir():
                raise KnowledgeError(f"{folder}: materials folder not found")
            if pull and (folder / ".git").exists():
                outcome.pulled.append(git_pull(folder))
            merge(outcome.report, kb.indexer.refresh(folder))
        if golden is not None and golden.is_file():
            state = data_dir / f"regression-{kb.store.name}.json"
            if outcome.report.changed_anything or not state.exists():
                outcome.regression = check_regression(kb.retriever, golden, state, max_drop)
    outcome.seconds = outcome.report.seconds = time.monotonic() - start
    log.info("refresh done: %s", json.dumps(outcome.to_dict()["report"])[:500])
    return outcome
