"""A small BDT control trained by the workflow's code (egcalib.bdt.training) on hand-made sidecars
whose scalars look like an ntuple's (GeV, integer indices and counts, many exact zeros), for the
tests of its ONNX export and of applying it (no simulation, no skim, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.bdt.training import train_bdt
from egcalib.core.contract import SCALAR_COLUMNS, SCALARS

SETTINGS = {
    "num_leaves": 15,
    "learning_rate": 0.1,
    "max_rounds": 200,
    "early_stopping_rounds": 20,
    "min_data_in_leaf": 20,
    "lambda_l2": 0.0,
    "max_bin": 63,
}


def physical_scalars(n: int, seed: int) -> np.ndarray:
    """(n, 16) float32 scalars in contract order with an ntuple's units and kinds of values:
    E_acc 10-500 GeV, integer eta index, track and vertex counts, f0 / p_track / E_crack_ratio /
    E_tilegap exactly 0 for many objects (as photons and most of the barrel have), f0 also
    negative."""
    rng = np.random.default_rng(seed)
    e_acc = np.exp(rng.uniform(np.log(10.0), np.log(500.0), n))
    eta = rng.uniform(-2.47, 2.47, n)
    values = {
        "E_acc": e_acc,
        "eta_index": np.floor(eta / 0.025),
        # Exactly 0 (|eta| > 1.8), else E0 / E_acc, slightly negative with noise.
        "f0": np.where(rng.random(n) < 0.3, 0.0, rng.uniform(-0.02, 0.1, n)),
        "R12": rng.lognormal(0.0, 0.5, n),
        "p_track": np.where(rng.random(n) < 0.2, 0.0, e_acc * rng.normal(1.0, 0.1, n)),
        "E_crack_ratio": np.where(np.abs(np.abs(eta) - 1.5) < 0.1, rng.uniform(0, 0.3, n), 0.0),
        "E_tilegap": np.where(rng.random(n) < 0.8, 0.0, rng.exponential(0.5, n)),
        "eta": eta,
        "dphi_rescaled": rng.normal(0.0, 0.005, n),
        "eta_modcalo": rng.uniform(0.0, 0.025, n),
        "deta": rng.normal(0.0, 0.002, n),
        "poscs2": rng.uniform(0.0, 1.0, n),
        "dphi_h3": rng.uniform(-0.05, 0.05, n),
        "mu": rng.uniform(10.0, 60.0, n),
        "n_tracks": rng.integers(0, 4, n),
        "n_vertex": rng.integers(1, 40, n),
    }
    return np.stack([values[name] for name in SCALARS], axis=1).astype(np.float32)


def correction(scalars: np.ndarray) -> np.ndarray:
    """E_true / E_acc depending on several scalars, with steps at 0 as the real one has."""
    column = {name: scalars[:, i].astype(np.float64) for i, name in enumerate(SCALARS)}
    return (
        1.04
        + 0.02 * np.tanh(column["eta"])
        - 0.01 * np.log(column["E_acc"] / 50.0)
        + 0.03 * (column["E_tilegap"] > 0)
        + 0.2 * column["f0"]
        + 0.005 * column["n_tracks"]
    )


def write_sidecar(path: Path, n: int, seed: int) -> Path:
    """A shard sidecar of ``n`` MC objects (ids, scalars, split, target, e_acc = the E_acc
    scalar, weight 1) as the BDT's training and inference read it."""
    rng = np.random.default_rng(seed + 1000)
    scalars = physical_scalars(n, seed)
    columns = {
        "dataset": ["mc_zee"] * n,
        "runNumber": np.ones(n, np.int64),
        "eventNumber": np.arange(n, dtype=np.int64) + seed * 10**6,
        "object_index": np.zeros(n, np.int32),
        **{name: scalars[:, i] for i, name in enumerate(SCALAR_COLUMNS)},
        "e_baseline": scalars[:, 0] * np.float32(1.02),
        "weight": np.ones(n, np.float32),
        "split": rng.choice(["train", "val", "test"], n, p=[0.6, 0.2, 0.2]),
        "target": (correction(scalars) * rng.normal(1.0, 0.01, n)).astype(np.float32),
        "label_target": np.full(n, np.nan, np.float32),
        "e_acc": scalars[:, 0],
    }
    pq.write_table(pa.table(columns), path)
    return path


def trained_bdt(directory: Path, name: str = "bdt", n: int = 3000, **settings) -> tuple:
    """Train the BDT ``name`` (SETTINGS with ``settings`` over them) on two sidecars of ``n``
    objects written to ``directory``. Returns (spec, model.txt path, sidecar paths)."""
    directory.mkdir(parents=True, exist_ok=True)
    sidecars = [write_sidecar(directory / f"f{i:03d}.parquet", n, seed=i + 1) for i in range(2)]
    spec = {
        "name": name,
        "kind": "bdt",
        "train_on": ["mc_zee"],
        "bdt": {**SETTINGS, **settings},
    }
    model = directory / name / "model.txt"
    train_bdt(
        spec,
        {"mc": sidecars, "data": []},
        7,
        {"mc": 1.0, "data": 1.0},
        model,
        directory / name / "history.csv",
        directory / name / "training.png",
    )
    return spec, model, sidecars
