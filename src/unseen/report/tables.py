"""Machine-readable hunt outputs in the `unseen locate` formats.

`observations.csv`: every observation used by the hunt, one row each (the `unseen locate` input
format, group = the fix time window). `fixes.jsonl`: one `unseen locate --json` object per fix,
plus its `time_s`, in time order (last line = final fix).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from unseen.locate.io import COLUMNS, fix_to_dict, observation_to_row
from unseen.report.model import HuntResult


def write_observations(result: HuntResult, path: str | Path) -> Path:
    """All bearings and TDOAs of the hunt as `unseen locate` CSV rows (group "hunt")."""
    out = Path(path)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="raise")
        w.writeheader()
        for obs in sorted((*result.bearings, *result.tdoas), key=lambda o: o.time_s):
            w.writerow(observation_to_row(obs, "hunt"))
    return out


def write_fixes(result: HuntResult, path: str | Path) -> Path:
    """One JSON object per fix (the `unseen locate --json` output plus `time_s`), time order."""
    out = Path(path)
    with out.open("w", encoding="utf-8") as fh:
        for f in sorted(result.fixes, key=lambda f: f.time_s):
            fh.write(json.dumps({**fix_to_dict(f), "time_s": f.time_s}) + "\n")
    return out
