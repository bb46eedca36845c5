"""The BDT control model: it learns, is deterministic, stops early on val, writes CNN-format
predictions, and refuses to train without a val split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

lgb = pytest.importorskip("lightgbm")

from egcalib.bdt.prediction import predict_files  # noqa: E402
from egcalib.bdt.training import split_objects, train_bdt  # noqa: E402
from egcalib.core.contract import SCALAR_COLUMNS  # noqa: E402
from egcalib.infer.prediction import KEY  # noqa: E402

SETTINGS = {
    "num_leaves": 15,
    "learning_rate": 0.1,
    "max_rounds": 400,
    "early_stopping_rounds": 20,
    "min_data_in_leaf": 20,
    "lambda_l2": 0.0,
    "max_bin": 63,
}
WEIGHTS = {"mc": 1.0, "data": 1.0}


def correction(scalars):
    """A response that depends on three scalars non-linearly, as E_true / E_acc does."""
    return (
        1.03
        + 0.04 * np.tanh(scalars[:, 0])
        + 0.02 * scalars[:, 1] ** 2
        - 0.03 * (scalars[:, 2] > 0.5)
    )


def write_sidecar(path, n, seed, kind="mc", splits=(0.6, 0.2, 0.2), weight=None):
    """A shard sidecar with the columns the BDT and inference read: ids, the 16 scalars, split,
    target (MC) or label_target (data), e_acc, weight (default 1), and a baseline energy."""
    rng = np.random.default_rng(seed)
    scalars = rng.normal(size=(n, len(SCALAR_COLUMNS))).astype(np.float32)
    target = correction(scalars) * rng.normal(1.0, 0.01, n)
    e_acc = rng.uniform(20, 80, n).astype(np.float32)
    columns = {
        "dataset": ["mc_zee"] * n,
        "runNumber": np.ones(n, np.int64),
        "eventNumber": np.arange(n, dtype=np.int64) + seed * 10**6,
        "object_index": np.zeros(n, np.int32),
        **{name: scalars[:, i] for i, name in enumerate(SCALAR_COLUMNS)},
        "e_baseline": (e_acc * 1.02).astype(np.float32),
        "weight": np.ones(n, np.float32) if weight is None else np.asarray(weight, np.float32),
        "split": rng.choice(["train", "val", "test"], n, p=list(splits)),
        "target": (target if kind == "mc" else np.full(n, np.nan)).astype(np.float32),
        "label_target": (target if kind == "data" else np.full(n, np.nan)).astype(np.float32),
        "e_acc": e_acc,
    }
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture(scope="module")
def sidecars(tmp_path_factory):
    out = tmp_path_factory.mktemp("sidecars")
    return [write_sidecar(out / f"f{i:03d}.parquet", 2500, seed=i + 1) for i in range(2)]


def train(tmp_path, files_by_kind, name="bdt", settings=SETTINGS, seed=7, **policy):
    outputs = {
        key: tmp_path / name / file
        for key, file in (
            ("out_model", "model.txt"),
            ("out_history", "history.csv"),
            ("out_plot", "training.png"),
        )
    }
    model = {"name": name, "kind": "bdt", "train_on": ["mc_zee"], "bdt": settings}
    train_bdt(model, files_by_kind, seed, WEIGHTS, **outputs, **policy)
    return outputs


def test_it_learns_and_predicts_in_the_cnn_format(sidecars, tmp_path):
    out = train(tmp_path, {"mc": sidecars, "data": []})
    assert out["out_plot"].stat().st_size > 5_000
    predictions = tmp_path / "predictions.parquet"
    n = predict_files(out["out_model"], [sidecars[0]], predictions)
    frame = pd.read_parquet(predictions)
    sidecar = pd.read_parquet(sidecars[0])
    test = sidecar[sidecar["split"] == "test"]
    assert n == len(frame) == len(test) > 300
    # The columns and dtypes the CNN inference writes (inference.join_predictions).
    assert frame.columns.tolist() == (
        KEY
        + ["e_acc", "correction", "sigma_correction"]
        + [c for c in sidecar.columns if c not in KEY + ["e_acc"]]
        + ["e_pred", "sigma_e_pred"]
    )
    assert all(frame[k].dtype == np.int64 for k in KEY)
    assert frame["correction"].dtype == frame["e_pred"].dtype == np.float32
    assert frame["sigma_correction"].isna().all() and frame["sigma_e_pred"].isna().all()
    np.testing.assert_array_equal(frame["eventNumber"], test["eventNumber"])
    np.testing.assert_allclose(frame["e_pred"], frame["correction"] * frame["e_acc"], rtol=1e-6)
    # Held-out objects: far better than the best constant (the median of the targets).
    target = frame["target"].to_numpy()
    mae_model = np.mean(np.abs(frame["correction"] - target))
    mae_constant = np.mean(np.abs(np.median(target) - target))
    assert mae_model < 0.5 * mae_constant, (mae_model, mae_constant)


def test_same_inputs_give_the_same_model_byte_for_byte(sidecars, tmp_path):
    first = train(tmp_path, {"mc": sidecars}, name="a")
    second = train(tmp_path, {"mc": sidecars}, name="b")
    assert first["out_model"].read_bytes() == second["out_model"].read_bytes()
    assert first["out_history"].read_bytes() == second["out_history"].read_bytes()


def test_early_stopping_keeps_the_best_validation_round(sidecars, tmp_path):
    out = train(tmp_path, {"mc": sidecars})
    history = pd.read_csv(out["out_history"])
    assert history.columns.tolist() == ["round", "loss", "val_loss"]
    best = int(history["val_loss"].idxmin())
    assert len(history) == best + 1 + SETTINGS["early_stopping_rounds"] < SETTINGS["max_rounds"]
    assert lgb.Booster(model_file=str(out["out_model"])).num_trees() == best + 1
    # Validation targets unrelated to the scalars: the first rounds are the best there, and
    # training stops soon although the training loss keeps falling.
    scrambled = []
    for path in sidecars:
        table = pd.read_parquet(path)
        val = table["split"] == "val"
        table.loc[val, "target"] = np.random.default_rng(3).permutation(
            table.loc[val, "target"].to_numpy()
        )
        scrambled.append(tmp_path / f"scrambled_{path.name}")
        table.to_parquet(scrambled[-1])
    out = train(tmp_path, {"mc": scrambled}, name="scrambled")
    history = pd.read_csv(out["out_history"])
    assert len(history) < 3 * SETTINGS["early_stopping_rounds"]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_data_sidecars_train_on_the_labels_with_source_weights(tmp_path):
    mc = write_sidecar(tmp_path / "mc.parquet", 1000, seed=11)
    data = write_sidecar(tmp_path / "data.parquet", 500, seed=12, kind="data")
    scalars, target, weight = split_objects(
        {"mc": [mc], "data": [data]}, "train", {"mc": 1.0, "data": 3.0}
    )
    n_mc = int((pd.read_parquet(mc)["split"] == "train").sum())
    n_data = int((pd.read_parquet(data)["split"] == "train").sum())
    assert scalars.shape == (n_mc + n_data, 16) and np.isfinite(target).all()
    # Each source carries its share of the loss as a mean over its objects.
    assert weight[n_data:].sum() / weight[:n_data].sum() == pytest.approx(1 / 3)
    assert weight.mean() == pytest.approx(1.0)
    train(tmp_path, {"mc": [], "data": [data]}, name="data_only")


def test_an_empty_validation_split_is_an_error(tmp_path):
    no_val = write_sidecar(tmp_path / "f000.parquet", 500, seed=5, splits=(0.8, 0.0, 0.2))
    with pytest.raises(ValueError, match=r"model bdt: no val-split objects with a target"):
        train(tmp_path, {"mc": [no_val]})
    assert not (tmp_path / "bdt" / "model.txt").exists()


def nlo_weights(n, seed, fraction=0.3):
    """NLO-generator-like event weights: a ``fraction`` of them -1, the others +1, one zero."""
    weight = np.where(np.random.default_rng(seed).random(n) < fraction, -1.0, 1.0)
    weight[0] = 0.0
    return weight


def test_negative_weights_train_under_the_default_policy_and_the_log_says_how(tmp_path, caplog):
    """An NLO sample (30 % weights -1): LightGBM refuses negative weights, so today's BDT
    stopped; under training.negative_weights (default abs) it trains on |w|, and the log gives
    the counts and Kish effective sample sizes, signed and as trained."""
    n = 1500
    weight = nlo_weights(n, 21)
    nlo = write_sidecar(tmp_path / "nlo.parquet", n, seed=21, weight=weight)
    with caplog.at_level("INFO", logger="egcalib"):
        out = train(tmp_path, {"mc": [nlo]}, name="nlo")
    assert lgb.Booster(model_file=str(out["out_model"])).num_trees() > 0
    train_split = pd.read_parquet(nlo).query("split == 'train'")["weight"].to_numpy(np.float64)
    n_eff_signed = train_split.sum() ** 2 / (train_split**2).sum()
    n_eff_trained = np.abs(train_split).sum() ** 2 / (train_split**2).sum()
    assert (
        f"model nlo: {len(train_split)} mc train objects, {int((train_split < 0).sum())} with a "
        f"negative and {int((train_split == 0).sum())} with a zero weight; Kish N_eff = "
        f"(sum w)^2 / sum w^2 {n_eff_signed:.1f} signed, {n_eff_trained:.1f} as trained "
        "(training.negative_weights: abs)"
    ) in caplog.text


def test_each_policy_weighs_the_bdt_objects_like_the_cnn(tmp_path):
    n = 1000
    weight = nlo_weights(n, 22)
    nlo = write_sidecar(tmp_path / "nlo.parquet", n, seed=22, weight=weight)
    table = pd.read_parquet(nlo).query("split == 'train'")
    signed = table["weight"].to_numpy(np.float64)
    kept = {"abs": signed != 0, "drop": signed > 0, "unit": signed != 0}
    for policy, rows in kept.items():
        scalars, target, trained = split_objects({"mc": [nlo]}, "train", WEIGHTS, policy)
        # Objects that would train with weight zero are left out: they contribute nothing.
        assert len(target) == len(trained) == len(scalars) == rows.sum()
        np.testing.assert_allclose(target, table["target"].to_numpy()[rows], rtol=1e-6)
        by_policy = {"abs": np.abs(signed), "drop": signed, "unit": np.ones(len(signed))}
        expected = by_policy[policy][rows]
        np.testing.assert_allclose(trained, expected / expected.mean())  # mean 1 per source
    out = train(tmp_path, {"mc": [nlo]}, name="dropped", negative_weights="drop")
    assert out["out_model"].exists()


def test_all_positive_weights_give_the_same_objects_under_abs_and_drop(sidecars):
    one, two = (split_objects({"mc": sidecars}, "train", WEIGHTS, p) for p in ("abs", "drop"))
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "column, value, what", [("weight", np.nan, "weight"), ("target", np.inf, "target")]
)
def test_a_non_finite_training_weight_or_label_is_an_error_naming_model_and_file(
    tmp_path, column, value, what
):
    path = write_sidecar(tmp_path / "f000.parquet", 500, seed=23)
    table = pd.read_parquet(path)
    table.loc[table.index[table["split"] == "train"][3], column] = value
    table.to_parquet(path)
    with pytest.raises(
        ValueError,
        match=rf"model bdt: {path} \(train split\): 1 training objects with a "
        rf"non-finite {what}",
    ):
        train(tmp_path, {"mc": [path]})
    assert not (tmp_path / "bdt" / "model.txt").exists()


def test_inference_refuses_non_finite_predictions(sidecars, tmp_path, monkeypatch):
    out = train(tmp_path, {"mc": sidecars}, name="a")

    def predict(self, data, **kwargs):
        correction = np.ones(len(data))
        correction[[2, 5]] = [np.nan, np.inf]
        return correction

    monkeypatch.setattr(lgb.Booster, "predict", predict)
    predictions = tmp_path / "c000.parquet"
    with pytest.raises(
        ValueError,
        match=rf"model a: 2 of \d+ objects of {sidecars[0]} with a non-finite prediction "
        rf"\(NaN or infinite\) for {predictions}; nothing written",
    ):
        predict_files(out["out_model"], sidecars, predictions, name="a")
    assert not predictions.exists()
