"""Running the workflow from tests: a copy of the checkout in a temporary directory."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = "tests/configs/tiny.yaml"


def copy_checkout(dest: Path) -> Path:
    """Copy the tracked and new files of the checkout (no results, no venv) to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def snakemake(
    workdir: Path, *args: str, configfiles=("config.yaml", TINY), timeout=1800, check=True
) -> subprocess.CompletedProcess:
    # --configfile takes several values: the arguments (targets among them) go before it.
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        *args,
        "--configfile",
        *configfiles,
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def planned_jobs(workdir: Path, *args: str, **kwargs) -> dict[str, int]:
    """Jobs a dry run would execute, as {rule: count} (empty when nothing is to be done)."""
    result = snakemake(workdir, "-n", *args, **kwargs)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}
    jobs.pop("total", None)
    return jobs


# The outputs a refactor must leave byte for byte unchanged (same seed, same config): the skimmed
# tables, the shards, the normalisations, the training histories, the BDT and the predictions.
# ROOT files are not among them: ROOT writes a fresh UUID and time stamp into every file.
DIGESTED = (
    "skim/*/*.parquet",
    "shards/*/*",
    "models/*/normalisation.json",
    "models/*/history.csv",
    "models/*/model.txt",
    "predictions/*/*/*.parquet",
)


def output_digests(results: Path) -> dict[str, str]:
    """{path relative to ``results``: sha256} of the DIGESTED outputs of a run."""
    import hashlib

    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for pattern in DIGESTED
        for path in sorted(results.glob(pattern))
    }
