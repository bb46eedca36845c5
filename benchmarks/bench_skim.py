"""Skim throughput beside a plain uproot.iterate read of the same branches of the same file
(the bound), as a ratio; and peak memory for two step sizes on a file many steps long.

    .venv/bin/python benchmarks/bench_skim.py [n_events]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from small_simulation import REPO, default_config, small_simulation

# The tests' helpers (tests/ntuple_builder.py: skim_with), here and in PEAK_MEMORY's process.
TESTS = str(REPO / "tests")
sys.path.insert(0, TESTS)
PEAK_MEMORY = r"""
import json, re, sys, yaml
sys.path.insert(0, sys.argv[5])
from ntuple_builder import skim_with
config = yaml.safe_load(open(sys.argv[1]))
config["skim"]["step_size"] = int(sys.argv[3])
skim_with(config, sys.argv[2], sys.argv[4], dataset="mc_zee", file_name="f")
# VmHWM belongs to this address space; ru_maxrss would carry the parent's peak across exec.
status = open("/proc/self/status").read()
print(json.dumps(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024))
"""


def main(n_events: int = 20000) -> None:
    from ntuple_builder import skim_with

    from egcalib.simulation.events import simulate_file
    from egcalib.skim.reading import iterate
    from egcalib.skim.skimming import needed_branches

    config = default_config()
    sim, calibration = small_simulation(config, photons_per_type=4000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zee.root"
        simulate_file(path, "mc_zee", "zee", "mc", 0, n_events, sim, calibration)
        size_mb = path.stat().st_size / 1e6
        names = needed_branches("zee", True, [config["selection"]["zee"]["trigger"]])
        start = time.perf_counter()
        for _ in iterate(str(path), "egamma", names, {}, config["skim"]["step_size"]):
            pass
        read_seconds = time.perf_counter() - start
        start = time.perf_counter()
        skim_with(config, path, f"{tmp}/out.parquet", dataset="mc_zee", file_name="f")
        skim_seconds = time.perf_counter() - start
        print(f"skim: {n_events} Z->ee events, {size_mb:.1f} MB")
        print(
            f"  skim            : {n_events / skim_seconds:9.0f} events/s "
            f"{size_mb / skim_seconds:7.1f} MB/s"
        )
        print(
            f"  uproot.iterate  : {n_events / read_seconds:9.0f} events/s "
            f"{size_mb / read_seconds:7.1f} MB/s  (bound)"
        )
        print(f"  ratio           : {read_seconds / skim_seconds:9.3f}")
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        for step in (n_events // 20, n_events // 5):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    PEAK_MEMORY,
                    str(config_path),
                    str(path),
                    str(step),
                    f"{tmp}/mem.parquet",
                    TESTS,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            peak = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  peak memory, step {step:6d} events ({n_events // step:2d} steps): "
                f"{peak:7.0f} MB"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
