"""Summing per-file cutflows into per-dataset tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from egcalib.core.atomic import atomic_path
from egcalib.skim.duplicates import read_reports, report_text
from egcalib.skim.selection import Cutflow

LATER_COPIES = "not in an earlier file"


def merge_cutflows(
    paths: Iterable[str | Path],
    out_csv: str | Path,
    out_markdown: str | Path,
    duplicates: Sequence[str | Path] = (),
) -> pd.DataFrame:
    """Sum cutflow JSONs (same cuts in the same order); add the efficiency of each step.

    ``duplicates``: the dataset's ``duplicates`` report (egcalib.skim.duplicates); its later copies
    of events, which every consumer of the dataset drops, are a last step ("not in an earlier
    file") and named under the table. Per-file warnings (``"warnings"`` in a cutflow JSON, e.g.
    a first kinematic cut that removes every object, objects dropped for non-finite inputs)
    are listed under the Markdown table with their file."""
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
    later = read_reports(duplicates)
    if duplicates and total.steps:
        last = total.steps[-1]
        total.add(
            LATER_COPIES,
            last["events"] - int((later["objects"] > 0).sum()),
            last["objects"] - int(later["objects"].sum()),
        )
        warnings += [f"- **duplicates** {line}" for line in report_text(later)]
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
