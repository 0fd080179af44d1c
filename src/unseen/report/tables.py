"""Machine-readable hunt outputs in the `unseen locate` formats.

`observations.csv`: the observations of the final fix, one row each (the `unseen locate` input
format, in `HuntResult.group`, "hunt"). `fixes.jsonl`: one `unseen locate --json` object per
fix, plus its `time_s`, in time order (last line = final fix); `unseen locate observations.csv`
reproduces its last line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from unseen.locate.io import COLUMNS, fix_to_dict, observation_to_row
from unseen.report.model import HuntResult


def write_observations(result: HuntResult, path: str | Path) -> Path:
    """The final fix's bearings and TDOAs as `unseen locate` CSV rows, in the fixes' group."""
    out = Path(path)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="raise")
        w.writeheader()
        for obs in sorted((*result.bearings, *result.tdoas), key=lambda o: o.time_s):
            w.writerow(observation_to_row(obs, result.group))
    return out


def write_fixes(result: HuntResult, path: str | Path) -> Path:
    """One JSON object per fix (the `unseen locate --json` output plus `time_s`), time order,
    all in the group of observations.csv."""
    out = Path(path)
    with out.open("w", encoding="utf-8") as fh:
        for f in sorted(result.fixes, key=lambda f: f.time_s):
            row = {**fix_to_dict(f), "group": result.group, "time_s": f.time_s}
            fh.write(json.dumps(row) + "\n")
    return out
