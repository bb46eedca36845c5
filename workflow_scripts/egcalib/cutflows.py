"""Summing per-file cutflows into per-dataset tables."""

from __future__ import annotations

import json

import pandas as pd

from egcalib.atomic import atomic_path
from egcalib.selection import Cutflow


def merge_cutflows(paths, out_csv, out_markdown) -> pd.DataFrame:
    """Sum cutflow JSONs (same cuts in the same order); add the efficiency of each step.

    Per-file warnings (``"warnings"`` in a cutflow JSON, e.g. a first kinematic cut that removes
    every object) are listed under the Markdown table with their file."""
    total = Cutflow()
    warnings = []
    for path in paths:
        with open(path) as handle:
            summary = json.load(handle)
        flow = Cutflow()
        flow.steps = summary["steps"]
        total += flow
        warnings += [
            f"- **warning** {summary.get('file', path)}: {text}"
            for text in summary.get("warnings", [])
        ]
    table = pd.DataFrame(total.steps, columns=["cut", "events", "objects"])
    previous = table["events"].shift(1)
    table["event_efficiency"] = (table["events"] / previous.where(previous > 0)).round(4)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_markdown) as tmp:
        tmp.write_text(
            table.to_markdown(index=False)
            + "\n"
            + ("\n" + "\n".join(warnings) + "\n" if warnings else "")
        )
    return table
