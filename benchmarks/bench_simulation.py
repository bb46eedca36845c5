"""Simulation throughput: objects/s of the toy calorimeter, beside writing the same arrays with
uproot alone (the bound) in the same run, printed as a ratio.

    .venv/bin/python benchmarks/bench_simulation.py [n_events]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
from small_simulation import default_config, small_simulation

from egcalib.core.root_writing import write_tree
from egcalib.simulation.events import BLOCK_EVENTS, simulate_chunk
from egcalib.simulation.ntuple import branch_dtypes


def main(n_events: int = 10000) -> None:
    sim, calibration = small_simulation(default_config(), photons_per_type=5000)
    chunk = BLOCK_EVENTS
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        chunks = [
            simulate_chunk(
                "zee",
                "mc",
                min(chunk, n_events - first),
                first + 1,
                1,
                sim,
                calibration,
                np.random.default_rng(first),
            )
            for first in range(0, n_events, chunk)
        ]
        write_tree(Path(tmp) / "sim.root", "egamma", chunks, branch_dtypes(True))
        simulate_seconds = time.perf_counter() - start
        start = time.perf_counter()
        write_tree(Path(tmp) / "write.root", "egamma", chunks, branch_dtypes(True))
        write_seconds = time.perf_counter() - start
        size_mb = (Path(tmp) / "write.root").stat().st_size / 1e6
    n_objects = sum(int(ak.sum(ak.num(c["el_e"])) + ak.sum(ak.num(c["ph_e"]))) for c in chunks)
    sim_rate, write_rate = n_objects / simulate_seconds, n_objects / write_seconds
    print(f"simulation: {n_events} Z->ee events, {n_objects} objects, {size_mb:.1f} MB")
    print(f"  simulate + write : {sim_rate:10.0f} objects/s")
    print(f"  uproot write only: {write_rate:10.0f} objects/s  (bound)")
    print(f"  ratio            : {sim_rate / write_rate:10.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
