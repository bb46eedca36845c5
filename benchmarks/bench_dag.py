"""Planning at scale: a dry run (``snakemake -n``, nothing executed) of the default workflow with
its six datasets holding 100, 1,000 and 10,000 simulated input files in all, with the default
models, and of configs/paper.yaml (450 files, every model) for reference. Prints jobs and seconds
per size, and the planning cost per job as a ratio against the smallest size (1.0: planning grows
linearly with the jobs).

    .venv/bin/python benchmarks/bench_dag.py [total files ...]   (default 100 1000 10000)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def spread(total_files: int, workdir: Path) -> Path:
    """A config file spreading ``total_files`` over config.yaml's datasets."""
    datasets = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]
    share = {name: total_files // len(datasets) for name in datasets}
    share[next(iter(datasets))] += total_files - sum(share.values())
    path = workdir / f"files{total_files}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    name: {**spec, "n_files": share[name]} for name, spec in datasets.items()
                }
            }
        )
    )
    return path


def plan(path: Path, workdir: Path) -> tuple[int, float, dict]:
    """(jobs, seconds, jobs per rule) of a dry run of config.yaml with the config file ``path``."""
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--quiet",
            "rules",
            "--cores",
            "1",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(REPO / "config.yaml"),
            str(path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    per_rule = {
        rule: int(count)
        for rule, count in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE)
    }
    jobs = per_rule.pop("total")
    return jobs, seconds, per_rule


def main(sizes) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs, seconds, per_rule = plan(REPO / "configs/paper.yaml", Path(tmp))
        print(
            f"configs/paper.yaml: {jobs:6d} jobs planned in {seconds:7.1f} s; "
            f"infer jobs {per_rule.get('infer', 0)}"
        )
        for total in sizes:
            jobs, seconds, per_rule = plan(spread(total, Path(tmp)), Path(tmp))
            rows.append((total, jobs, seconds))
            base = rows[0][2] / rows[0][1]
            print(
                f"{total:6d} files: {jobs:6d} jobs planned in {seconds:7.1f} s "
                f"({1e3 * seconds / jobs:.2f} ms per job, ratio {seconds / jobs / base:.2f} "
                f"against {rows[0][0]} files); infer jobs {per_rule.get('infer', 0)}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
