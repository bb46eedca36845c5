"""How much a reader of the cells could gain over the MVA baseline, per calibration category, and
what the data detector's differences cost a calibration trained on MC (egcalib.simulation.headroom).

    python tests/study_resolution_headroom.py [config.yaml] > docs/studies/resolution-headroom.md

Prints a Markdown report of the measurement (docs/toy-detector.md links it): the configured
detector, 60,000 test particles each, the networks' training sizes of configs/reference.yaml
(docs/reproducing-the-paper.md: ~40k electrons, ~28k photons).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

from egcalib.simulation.config import simulation_config
from egcalib.simulation.headroom import (
    PHOTON_ETA_MAX,
    SUMMARY,
    data_mismatch,
    resolution_headroom,
)

TEST_OBJECTS = 60000
REFERENCE_TRAINING = {"electron": 40000, "photon": 28000}


def _pm(pair: list[float]) -> str:
    return f"{100 * pair[0]:+.1f} ± {100 * pair[1]:.1f} %"


def main(path: str = "config.yaml") -> None:
    config = yaml.safe_load(Path(path).read_text())
    sim = simulation_config(copy.deepcopy(config["simulation"]), config["images"])
    command = f"python tests/study_resolution_headroom.py {path}"
    print("# What a reader of the cells could gain over the MVA baseline\n")
    print(f"Written by `{command}` (egcalib.simulation.headroom; its docstring defines each")
    print("estimator). Test objects: single particles with the photon gun's ET range")
    print(f"{sim['generator']['pgun_et_range']} GeV, |eta| < {PHOTON_ETA_MAX} outside the crack,")
    print(f"{TEST_OBJECTS} per particle; each estimator is a LightGBM regression as the")
    print("baseline's, on its inputs and the named extra ones. The summary of the cells:")
    print(f"{', '.join(SUMMARY)}.\n")
    rows = resolution_headroom(sim, TEST_OBJECTS, REFERENCE_TRAINING)
    labels = list(rows[0]["eiqr75"])
    print("## eIQR75 of E / E_true\n")
    header = "| category | training objects (at reference size) | test objects | "
    print(header + " | ".join(labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for row in rows:
        widths = " | ".join(f"{100 * row['eiqr75'][k]:.2f} %" for k in labels)
        print(
            f"| {row['category']} | {row['training_objects']} ({row['reference_size_objects']}) "
            f"| {row['test_objects']} | {widths} |"
        )
    gains = [k for k in labels if k != "mva"]
    print("\n## rIQR75 against the MVA baseline (bootstrap errors)\n")
    print("| category | " + " | ".join(gains) + " |")
    print("|---|" + "---|" * len(gains))
    for row in rows:
        print(f"| {row['category']} | " + " | ".join(_pm(row["riqr75"][k]) for k in gains) + " |")
    print("\n## Mean losses, as a fraction of E_true\n")
    print("| category | " + " | ".join(rows[0]["mean_loss_fraction"]) + " |")
    print("|---|" + "---|" * len(rows[0]["mean_loss_fraction"]))
    for row in rows:
        fractions = row["mean_loss_fraction"].values()
        print(f"| {row['category']} | " + " | ".join(f"{100 * f:.2f} %" for f in fractions) + " |")
    edges = config["evaluation"]["insitu_eta_edges"]
    mismatch = data_mismatch(sim, TEST_OBJECTS, edges)
    print("\n## Trained on MC, applied to data\n")
    print("Electrons, both regressions trained on MC, on the same test electrons through the MC")
    print("and the data detector; each response divided by its median per |eta| bin of")
    print(f"{edges} (what the in-situ scale takes out).\n")
    print("| detector | eIQR75 mva | eIQR75 cells_summary | rIQR75 cells_summary against mva |")
    print("|---|---|---|---|")
    for name, entry in mismatch.items():
        widths = entry["eiqr75"]
        print(
            f"| {name} | {100 * widths['mva']:.2f} % | {100 * widths['cells_summary']:.2f} % "
            f"| {_pm(entry['riqr75'])} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
