"""Regenerate tests/data/quiet_inputs/: ntuples that go wrong quietly, written by ROOT itself.

Run with a Python that has PyROOT (the PyPI package ``root``), as tests/make_root_ntuples.py:

    /tmp/rootenv/bin/python tests/make_quiet_inputs.py

Each file holds events of the ROOT-written reference ``real_ntuples/zee_bool.root`` (400 Z->ee
MC events, eventNumber = entry + 1) in the reference's storage, changed as the table says:

| file | content | expected (tests/test_quiet_inputs.py) |
|---|---|---|
| zee_part1.root, zee_part2.root | entries 0-249 and 150-399: 100 events in both | 100 later copies found and dropped |
| zee_repeated.root | entries 0-199, then 100-149 again | 50 entries dropped in the skim |
| zee_channels.root | entries 0-199 as mcChannelNumber 361106, 0-199 again as 361107 | no duplicates: other process |
| zee_nancell.root | NaN in el_cells_lr2 (entries 3, 10, 17), +inf in el_cells_lr1 (entry 24), NaN el_Etilegap (entry 31), NaN trk_pt (entry 38), NaN mu (entry 45) | their objects dropped, counted per branch |
| zee_negw.root | mcEventWeight -1 in every third entry | trained under training.negative_weights |
| zee_nanweight.root | mcEventWeight NaN in entry 7 (60 events) | skim error naming the branch and entry |
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from make_root_ntuples import SOURCE, read_source, same_as_source, write

HERE = Path(__file__).resolve().parent / "data" / "quiet_inputs"
SMALL = 60


def changed(event, **values):
    event = dict(event)
    event.update(values)
    return event


def with_value(event, branch, index, value):
    """``event`` with element ``index`` of the flat ``branch`` set to ``value`` (all objects
    when ``index`` is None)."""
    array = np.array(event[branch], copy=True)
    if index is None:
        array[:] = value
    else:
        array[index] = value
    return changed(event, **{branch: array})


def main(out: Path = HERE):
    out.mkdir(parents=True, exist_ok=True)
    events, kinds = read_source(SOURCE)

    def declare(w):
        same_as_source(w, kinds)

    write(out / "zee_part1.root", events[:250], declare)
    write(out / "zee_part2.root", events[150:], declare)
    write(out / "zee_repeated.root", events[:200] + events[100:150], declare)
    channels = [changed(ev, mcChannelNumber=361106) for ev in events[:200]]
    channels += [changed(ev, mcChannelNumber=361107) for ev in events[:200]]
    write(out / "zee_channels.root", channels, declare)

    # One bad value per chosen entry (of an event with electrons: all of these have two).
    bad = {
        3: ("el_cells_lr2", 38, np.nan),
        10: ("el_cells_lr2", 77 + 38, np.nan),
        17: ("el_cells_lr2", 0, np.nan),
        24: ("el_cells_lr1", 140, np.inf),
        31: ("el_Etilegap", 0, np.nan),
        38: ("trk_pt", 0, np.nan),
        45: ("averageInteractionsPerCrossing", None, np.nan),
    }
    nancell = []
    for i, event in enumerate(events):
        if i in bad:
            branch, index, value = bad[i]
            if index is None:
                event = changed(event, **{branch: value})
            else:
                event = with_value(event, branch, index, value)
        nancell.append(event)
    write(out / "zee_nancell.root", nancell, declare)

    negw = [changed(ev, mcEventWeight=-1.0 if i % 3 == 0 else 1.0) for i, ev in enumerate(events)]
    write(out / "zee_negw.root", negw, declare)
    nanweight = [
        changed(ev, mcEventWeight=np.nan if i == 7 else ev["mcEventWeight"])
        for i, ev in enumerate(events[:SMALL])
    ]
    write(out / "zee_nanweight.root", nanweight, declare)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
