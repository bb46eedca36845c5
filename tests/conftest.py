"""Shared fixtures: the default config and a small, fast simulation built from it."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The workflow's numerics (rules/common.smk) for the tests' own computations too; set before
# numpy is first imported (egcalib.core.provenance imports no numpy).
from egcalib.core.provenance import SAME_KERNELS_ON_EVERY_CPU

for _name, _value in SAME_KERNELS_ON_EVERY_CPU.items():
    os.environ.setdefault(_name, _value)

# The XRootD client's C extension crashes the process (segmentation fault) when it loads after
# TensorFlow's (xrootd 6.2.1 and tensorflow-cpu 2.21 wheels), and this process loads both: the
# client first, with the remote-input tests' short retries. No workflow job loads both.
from xrootd_server import CLIENT_ENV  # noqa: E402

for _name, _value in CLIENT_ENV.items():
    os.environ.setdefault(_name, _value)
import XRootD.client  # noqa: E402, F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def default_config() -> dict:
    with open(REPO / "config.yaml") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def sim(default_config) -> dict:
    """The default simulation with a calibration sample small enough for tests."""
    from egcalib.simulation.config import simulation_config

    config = simulation_config(
        copy.deepcopy(default_config["simulation"]), default_config["images"]
    )
    config["calibration"]["objects_per_type"] = {
        "electron": 40000,
        "unconverted": 8000,
        "converted": 8000,
    }
    return config


@pytest.fixture(scope="session")
def calibration(sim) -> dict:
    from egcalib.simulation.baseline_calibration import derive_baseline_calibration

    return derive_baseline_calibration(sim)


@pytest.fixture(scope="session")
def ntuple_dir(tmp_path_factory, sim, calibration) -> Path:
    """One small file per (kind, process) written by the simulator."""
    from egcalib.simulation.events import simulate_file

    out = tmp_path_factory.mktemp("ntuples")
    for dataset, kind, process, n in (
        ("mc_zee", "mc", "zee", 600),
        ("data_zee", "data", "zee", 600),
        ("mc_zmumug", "mc", "zmumug", 400),
        ("data_zmumug", "data", "zmumug", 400),
        ("mc_egun", "mc", "egun", 600),
        ("mc_pgun", "mc", "pgun", 600),
        ("mc_jets", "mc", "jets", 400),
        ("data_jets", "data", "jets", 400),
    ):
        simulate_file(out / f"{dataset}.root", dataset, process, kind, 0, n, sim, calibration)
    return out


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory) -> Path:
    """A copy of the checkout with the tiny workflow run to completion once, locally (shared by
    the workflow and cluster tests; tests must not change its results)."""
    from workflow_utils import copy_checkout, snakemake

    workdir = copy_checkout(tmp_path_factory.mktemp("workflow"))
    snakemake(workdir)
    return workdir
