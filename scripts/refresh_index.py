"""Scheduled refresh of the course materials: re-index what changed, report it, check for regressions.

    .venv/bin/python scripts/refresh_index.py [FOLDER ...] [--pull] [--golden QA.jsonl] [--no-wait] [--json]

With no folder: COURSEBOT_REFRESH_FOLDERS, or the materials folder (admin uploads land there). Safe to
interrupt and re-run (see knowledge/ingest/indexer.py); two refreshes never run at once (a lock in the data dir:
the second waits, or with --no-wait exits with code 75). Exit codes for cron: 0 ok, 1 error,
3 some files failed (or a git pull failed), 4 the golden set's hit@5 dropped beyond
COURSEBOT_REGRESSION_MAX_DROP, 75 another refresh is running.

Cron (every night at 03:00):
    0 3 * * *  cd /srv/coursebot && .venv/bin/python scripts/refresh_index.py --pull >> data/refresh.log 2>&1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from knowledge.core import Knowledge
from knowledge.errors import KnowledgeError, RefreshBusy
from knowledge.refresh import run_refresh
from knowledge.settings import load_settings

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("folders", nargs="*", type=Path, help="materials folders (default: from settings)")
parser.add_argument("--pull", action="store_true", help="git pull folders that are git checkouts first")
parser.add_argument("--golden", type=Path, help="QA JSONL re-run after a change (default: COURSEBOT_GOLDEN_SET)")
parser.add_argument("--no-wait", action="store_true", help="exit (75) instead of waiting for a running refresh")
parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
args = parser.parse_args()

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
logging.getLogger("httpx").setLevel(logging.WARNING)
settings = load_settings()
folders = [f.resolve() for f in args.folders] or settings.resolved_refresh_folders

try:
    with Knowledge(settings) as kb:
        outcome = run_refresh(kb, folders, pull=args.pull or settings.refresh_pull,
                              golden=args.golden or settings.golden_set, max_drop=settings.regression_max_drop,
                              wait=not args.no_wait)
except RefreshBusy as e:
    print(f"busy: {e}", file=sys.stderr)
    sys.exit(75)
except KnowledgeError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)

print(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2) if args.json else outcome.summary())
sys.exit(outcome.exit_code)
