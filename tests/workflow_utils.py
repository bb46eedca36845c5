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
    workdir: Path,
    *args: str,
    configfiles=("config.yaml", TINY),
    timeout=1800,
    check=True,
    cores: int | None = 2,
) -> subprocess.CompletedProcess:
    # --configfile takes several values: the arguments (targets among them) go before it.
    command = [
        sys.executable,
        "-m",
        "snakemake",
        *(["--cores", str(cores)] if cores is not None else []),
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


def dry_run(
    directory: Path, *configfiles, args=(), snakefile=REPO / "Snakefile", timeout=300
) -> subprocess.CompletedProcess:
    """``snakemake -n`` run from the checkout itself with its working directory ``directory``,
    the config files ``configfiles`` (config.yaml among them only where given) and ``args``
    before the rest; ``snakefile=None`` leaves Snakemake to find the Snakefile of the checkout.
    The result, unchecked: tests of a refused config want its failure."""
    where = ["--directory", str(directory)]
    if snakefile is not None:
        where += ["--snakefile", str(snakefile)]
    return snakemake(
        REPO,
        *args,
        "-n",
        *where,
        configfiles=[str(path) for path in configfiles],
        timeout=timeout,
        check=False,
        cores=None,
    )


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


# The outputs a refactor must leave byte for byte unchanged (same seed, same config) on any
# x86-64 CPU: the skimmed tables, the shards, the normalisations, the BDT (its history, model
# and predictions). ROOT files are not among them: ROOT writes a fresh UUID and time stamp into
# every file. The CNNs' histories and predictions are exact on one machine only (oneDNN picks
# kernels, and so the order of float additions, by the CPU's instruction set): cnn_values.
DIGESTED = (
    "skim/*/*.parquet",
    "skim/*/events/*.parquet",
    "shards/*/*",
    "models/*/normalisation.json",
    "models/*/history.csv",
    "models/*/model.txt",
    "predictions/*/*/*.parquet",
    "photon_id/candidates/*.parquet",
    "photon_id/menus.yaml",
    "photon_id/bdt/model.txt",
)
# Columns of a CNN's outputs that carry what the network computed; every other column is exact.
NETWORK_COLUMNS = {"correction", "sigma_correction", "e_pred", "sigma_e_pred"}


def cnn_models(results: Path) -> list[str]:
    """The run's CNN models: those with a normalisation (a BDT has none)."""
    return sorted(p.parent.name for p in results.glob("models/*/normalisation.json"))


def output_digests(results: Path) -> dict[str, str]:
    """{path relative to ``results``: sha256} of the DIGESTED outputs of a run, but the CNNs'
    histories and predictions (``cnn_values``)."""
    import hashlib

    cnn = cnn_models(results)
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for pattern in DIGESTED
        for path in sorted(results.glob(pattern))
        if not (
            path.relative_to(results).parts[0] in ("models", "predictions")
            and path.relative_to(results).parts[1] in cnn
            and path.name != "normalisation.json"
        )
    }


def cnn_values(results: Path) -> dict:
    """What the CNNs of a run computed, to compare within a tolerance across machines:
    {"models/<m>/history.csv": {column: [per epoch]}, "predictions/<m>/<d>/<c>.parquet":
    {"ids": sha256 of every column but the network's, "e_pred": [...], "sigma_e_pred": [...]}}."""
    import hashlib

    import pandas as pd

    values = {}
    for model in cnn_models(results):
        history = pd.read_csv(results / "models" / model / "history.csv")
        values[f"models/{model}/history.csv"] = {c: history[c].tolist() for c in history}
        for path in sorted((results / "predictions" / model).glob("*/*.parquet")):
            frame = pd.read_parquet(path)
            rest = frame.drop(columns=sorted(NETWORK_COLUMNS & set(frame)))
            rows = pd.util.hash_pandas_object(rest, index=False).to_numpy().tobytes()
            entry = {"ids": hashlib.sha256(" ".join(rest.columns).encode() + rows).hexdigest()}
            for column in sorted(NETWORK_COLUMNS & set(frame)):
                if frame[column].notna().any():
                    entry[column] = frame[column].astype(float).tolist()
            values[str(path.relative_to(results))] = entry
    return values
