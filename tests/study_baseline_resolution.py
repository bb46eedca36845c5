"""What the MVA baseline's Z -> ee sigma_CB depends on: the effect study's resolution_of for the
configured detector and for variants given as JSON overrides of simulation keys.

    python tests/study_baseline_resolution.py [config.yaml] ['{"label": {"a.b": value}}']

(keys ``fit.mass_range`` etc. change the Z fit instead of the detector).

Prints one JSON line per variant: sigma_CB [GeV] of all events, of events with both electrons
in the barrel (|eta| < 1.37) and with one in the end-cap (> 1.52), and the eIQR75. The
docs/toy-detector.md section on the baseline's resolution names the variants it was run with.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml

from egcalib.simulation.config import simulation_config
from egcalib.simulation.resolution_study import resolution_of

CALIBRATION_OBJECTS = 30000
Z_EVENTS = 40000


def variant(sim: dict, overrides: dict) -> tuple[dict, dict]:
    """``sim`` with dotted keys (``detectors.mc.constant_term``) set to the given values, and the
    Z fit's settings (keys ``fit.<argument of fit_bw_cb>``, e.g. ``fit.mass_range``)."""
    sim = copy.deepcopy(sim)
    fit = {k.removeprefix("fit."): v for k, v in overrides.items() if k.startswith("fit.")}
    for path, value in overrides.items():
        if path.startswith("fit."):
            continue
        *parents, key = path.split(".")
        node = sim
        for parent in parents:
            node = node[parent]
        node[key] = value
    return sim, fit


def main(path: str = "config.yaml", variants: str = '{"as configured": {}}') -> None:
    config = yaml.safe_load(Path(path).read_text())
    sim = simulation_config(copy.deepcopy(config["simulation"]), config["images"])
    for label, overrides in json.loads(variants).items():
        detector, fit = variant(sim, overrides)
        out = resolution_of(detector, CALIBRATION_OBJECTS, Z_EVENTS, fit)
        keys = ("sigma_cb", "sigma_cb_barrel", "sigma_cb_endcap", "eiqr75")
        print(json.dumps({"variant": label, **{k: round(out[k], 4) for k in keys if k in out}}))


if __name__ == "__main__":
    main(*sys.argv[1:])
