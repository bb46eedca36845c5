"""Training: the loss goes down, and a killed run resumes at the next epoch with its weights."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from egcalib.core.model_specs import resolve_model  # noqa: E402
from egcalib.train.models import load_for_inference  # noqa: E402
from egcalib.train.training import train  # noqa: E402

IMAGE = (8, 5, 4)


def synthetic(n, seed):
    """A learnable problem: the correction is a function of the image and of one scalar."""
    rng = np.random.default_rng(seed)
    image = rng.exponential(1, (n, *IMAGE)).astype(np.float32)
    scalars = rng.normal(size=(n, 16)).astype(np.float32)
    target = 1.0 + 0.05 * image[..., 1].mean(axis=(1, 2)) + 0.1 * np.tanh(scalars[:, 0])
    mask = np.zeros((n, 10), np.float32)
    inputs = {
        "image": image,
        "scalars": scalars,
        "tracks": np.zeros((n, 10, 11), np.float32),
        "track_mask": mask,
        "log_e_acc": np.zeros((n, 1), np.float32),
    }
    return tf.data.Dataset.from_tensor_slices(
        (inputs, target.astype(np.float32), np.ones(n, np.float32))
    ).batch(32, drop_remainder=True)


def train_small(model, training, out, train_seed=1, val_seed=2, **kwargs):
    """train() on 256 synthetic training and 64 validation objects of the given seeds."""
    return train(
        model, training, synthetic(256, train_seed), synthetic(64, val_seed), IMAGE, **kwargs, **out
    )


def first_epoch_of_rerun(model, training, out) -> int:
    """Run train_small again (after a killed run) and return the epoch it starts at."""
    seen = {}

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.setdefault("epoch", epoch)

    train_small(model, training, out, extra_callbacks=[FirstEpoch()])
    return seen["epoch"]


@pytest.fixture
def setup(default_config, tmp_path):
    model = resolve_model(
        "top_scalars", default_config["models"]["top_scalars"], default_config["model_defaults"]
    )
    training = {
        **copy.deepcopy(default_config["training"]),
        "epochs": 5,
        "jit_compile_cpu": False,
        "early_stopping_patience": 10,
    }
    out = {
        "out_model": tmp_path / "model.keras",
        "out_history": tmp_path / "history.csv",
        "out_plot": tmp_path / "training.png",
        "work_dir": tmp_path / "work",
    }
    return model, training, out


def test_training_lowers_the_validation_loss(setup):
    model, training, out = setup
    train(model, training, synthetic(512, 1), synthetic(256, 2), IMAGE, **out)
    history = pd.read_csv(out["out_history"])
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert history["val_loss"].iloc[-1] < 0.85 * history["val_loss"].iloc[0]
    assert out["out_model"].exists() and out["out_plot"].stat().st_size > 5000
    assert not (out["work_dir"] / "backup").exists(), "a finished run leaves nothing to resume"


def optimizer_state(model) -> list:
    """The optimizer's step count and moments (its learning rate is the schedule's to set)."""
    return [v.numpy() for v in model.optimizer.variables if "learning_rate" not in v.path]


def test_killed_run_resumes_at_the_next_epoch_with_its_saved_weights(setup, caplog):
    model, training, out = setup
    with pytest.raises(KeyboardInterrupt):
        train_small(model, training, out, stop_after_epoch=2)
    assert not out["out_model"].exists(), "no final model from a killed job"
    saved = sorted((out["work_dir"] / "backup").rglob("*.weights.h5"))
    assert saved, "a checkpoint was written every epoch"
    from egcalib.train.training import compile_model

    reference = compile_model(model, training, IMAGE, False)
    reference.optimizer.build(reference.trainable_variables)
    reference.load_weights(saved[-1])

    seen = {}

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if "epoch" not in seen:
                seen["epoch"] = epoch
                seen["weights"] = [w.copy() for w in self.model.get_weights()]
                seen["optimizer"] = optimizer_state(self.model)

    with caplog.at_level("INFO", logger="egcalib"):
        train_small(model, training, out, extra_callbacks=[FirstEpoch()])
    assert "resumed from the checkpoint of epoch 2" in caplog.text
    assert seen["epoch"] == 2, "resumed at epoch k + 1 (zero-based k = 2)"
    for got, expected in zip(seen["weights"], reference.get_weights()):
        np.testing.assert_array_equal(got, expected)
    # Adam's step count and moments resume too, not only the weights.
    assert int(reference.optimizer.iterations.numpy()) > 0
    for got, expected in zip(seen["optimizer"], optimizer_state(reference), strict=True):
        np.testing.assert_array_equal(got, expected)
    history = pd.read_csv(out["out_history"])
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4], "each epoch once across the two runs"


class RuinFrom(keras.callbacks.Callback):
    """From a given epoch on, train with a learning rate that ruins the weights."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.epoch:
            self.model.optimizer.learning_rate.assign(3.0)


def test_the_model_kept_is_the_best_validation_epoch_even_across_a_resume(setup, caplog):
    """Epochs 3 and later are ruined; the job is killed after epoch 3 and resumed. The model
    written is still that of the best epoch before the kill, not the last one."""
    model, training, out = setup
    val = synthetic(64, 2)
    with pytest.raises(KeyboardInterrupt):
        train(
            model,
            training,
            synthetic(256, 1),
            val,
            IMAGE,
            stop_after_epoch=3,
            extra_callbacks=[RuinFrom(2)],
            **out,
        )
    with caplog.at_level("INFO", logger="egcalib"):
        trained = train(
            model, training, synthetic(256, 1), val, IMAGE, extra_callbacks=[RuinFrom(2)], **out
        )
    history = pd.read_csv(out["out_history"])
    best = int(history["val_loss"].idxmin())
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert best < 2 and history["val_loss"].iloc[-1] > 2 * history["val_loss"].min(), history
    assert f"kept the weights of epoch {best + 1}" in caplog.text
    saved = keras.models.load_model(out["out_model"])
    for got in (trained, saved):
        np.testing.assert_allclose(
            got.evaluate(val, verbose=0), history["val_loss"].min(), rtol=1e-5
        )
    assert not (out["work_dir"] / "best").exists()


def test_an_mdn_model_is_saved_with_its_sigma_calibrated_on_validation(setup, caplog):
    """The saved model's sigma covers 68 % of the validation objects, whatever the NLL left."""
    from egcalib.train.models import load_for_inference
    from egcalib.train.sigma_calibration import COVERAGE_68, validation_pulls

    model, training, out = setup
    model = {**model, "loss": {"name": "mdn", "truncation": 3.0}}
    validation = synthetic(256, 2)
    with caplog.at_level("INFO", logger="egcalib.train.sigma_calibration"):
        train(model, {**training, "epochs": 2}, synthetic(512, 1), validation, IMAGE, **out)
    saved = load_for_inference(out["out_model"])
    scale = float(saved.get_layer("sigma").scale.numpy())
    assert scale != 1.0 and f"sigma scaled by {scale:.4f}" in caplog.text
    pulls = validation_pulls(saved, validation)
    assert np.mean(np.abs(pulls) < 1) == pytest.approx(COVERAGE_68, abs=1 / 256)


def test_fewer_objects_than_a_batch_is_a_clear_error():
    from egcalib.train.training import check_training_size

    check_training_size("basic", 64, 64)
    with pytest.raises(ValueError, match="model basic: 10 training objects, fewer than one batch"):
        check_training_size("basic", 10, 64)


def test_no_validation_objects_is_a_clear_error():
    from egcalib.train.training import check_validation_size

    check_validation_size("basic", 1, ["mc_zee"])
    with pytest.raises(
        ValueError,
        match=r"model basic: no validation objects with a target in "
        r"its train_on datasets \['mc_zee', 'mc_egun'\]",
    ):
        check_validation_size("basic", 0, ["mc_zee", "mc_egun"])


def test_a_kill_while_writing_a_checkpoint_resumes_from_the_previous_one(setup, monkeypatch):
    """The third checkpoint write dies half-way (a SIGKILL during the write): the rerun resumes
    after epoch 2 from intact files instead of failing on a truncated weights file."""
    model, training, out = setup
    original = keras.Model.save_weights
    calls = []

    def dies_on_the_third_write(self, filepath, *args, **kwargs):
        if "backup" in str(filepath):
            calls.append(filepath)
        if len(calls) == 3:
            with open(filepath, "wb") as handle:
                handle.write(b"\x89HDF\r\n\x1a\n truncated")
            raise KeyboardInterrupt("killed while writing the checkpoint")
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", dies_on_the_third_write)
    with pytest.raises(KeyboardInterrupt):
        train_small(model, training, out)
    monkeypatch.setattr(keras.Model, "save_weights", original)
    assert first_epoch_of_rerun(model, training, out) == 2
    assert pd.read_csv(out["out_history"])["epoch"].tolist() == [0, 1, 2, 3, 4]


def test_cosine_schedule_runs_to_its_end_across_a_resume(setup):
    """Each epoch trains at its cosine rate, also after a killed job resumes, and the history
    records the rate: a schedule that restarted at the full rate would undo the settling."""
    from egcalib.train.training import cosine_learning_rate

    model, training, out = setup
    training = {**training, "lr_schedule": "cosine", "learning_rate": 0.004}
    rates = [cosine_learning_rate(epoch, training) for epoch in range(training["epochs"])]
    assert rates[0] == pytest.approx(0.004) and all(np.diff(rates) < 0) and rates[-1] > 0
    with pytest.raises(KeyboardInterrupt):
        train_small(model, training, out, stop_after_epoch=2)
    train_small(model, training, out)
    history = pd.read_csv(out["out_history"])
    np.testing.assert_allclose(history["learning_rate"], rates, rtol=1e-6)


def test_plateau_schedule_lowers_the_rate_when_the_validation_loss_stalls(setup):
    model, training, out = setup
    training = {
        **training,
        "lr_schedule": "plateau",
        "lr_patience": 1,
        "lr_factor": 0.5,
        "learning_rate": 1e-9,
    }  # too small to lower the loss: every epoch stalls
    train_small(model, training, out)
    rates = pd.read_csv(out["out_history"])["learning_rate"].to_numpy()
    assert rates[0] == pytest.approx(1e-9) and rates[-1] < 0.3e-9


def test_a_checkpoint_of_other_settings_is_not_resumed(setup, caplog):
    """A job killed after epoch 2 and rerun because its settings changed (a new learning rate)
    starts at epoch 1: resuming would mix two trainings in one model."""
    model, training, out = setup
    with pytest.raises(KeyboardInterrupt):
        train_small(model, training, out, stop_after_epoch=2)
    changed = {**training, "learning_rate": training["learning_rate"] / 2}
    with caplog.at_level("INFO", logger="egcalib"):
        first_epoch = first_epoch_of_rerun(model, changed, out)
    assert first_epoch == 0
    assert "of another config or inputs: starting afresh" in caplog.text
    assert pd.read_csv(out["out_history"])["epoch"].tolist() == [0, 1, 2, 3, 4]


def test_a_model_with_init_from_starts_from_the_saved_weights(setup, tmp_path, caplog):
    """``initial_model`` (the spec's init_from): the first epoch starts from the saved model's
    weights, not from the random initialisation."""
    model, training, out = setup
    (tmp_path / "source").mkdir()
    source = {k: tmp_path / "source" / Path(v).name for k, v in out.items()}
    train_small(model, training, source)
    seen = {}

    class Start(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["kernel"] = self.model.get_layer("correction_z").get_weights()[0]

    with caplog.at_level("INFO", logger="egcalib"):
        train_small(
            model,
            {**training, "epochs": 1},
            out,
            train_seed=3,
            val_seed=4,
            initial_model=source["out_model"],
            extra_callbacks=[Start()],
        )
    saved = load_for_inference(source["out_model"])
    expected = saved.get_layer("correction_z").get_weights()[0]
    assert np.abs(expected).max() > 0, "the output layer starts at zero: training moved it"
    np.testing.assert_array_equal(seen["kernel"], expected)
    assert f"starts from {source['out_model']}" in caplog.text


def with_nan(dataset, where: str, batch: int):
    """``dataset`` (batches of synthetic) with a NaN in one object's ``where`` ("image",
    "target" or "weight") of batch ``batch`` (0-based), in every epoch."""

    def poison(index, element):
        inputs, target, weight = element
        hit = tf.logical_and(index == batch, tf.range(tf.shape(target)[0]) == 1)
        if where == "image":
            mask = tf.reshape(hit, (-1, 1, 1, 1))
            inputs = {**inputs, "image": tf.where(mask, np.nan, inputs["image"])}
        elif where == "target":
            target = tf.where(hit, np.nan, target)
        else:
            weight = tf.where(hit, np.nan, weight)
        return inputs, target, weight

    return dataset.enumerate().map(poison)


@pytest.mark.parametrize("where", ["image", "target", "weight"])
def test_a_non_finite_training_loss_stops_naming_model_epoch_and_batch(setup, where):
    """A NaN in batch 3 of the first epoch: Keras would train on with NaN weights; the job
    stops there, writing no model."""
    model, training, out = setup
    with pytest.raises(
        FloatingPointError,
        match=r"model top_scalars: non-finite training loss \(nan\) at epoch 1, batch 3;",
    ):
        train(
            model,
            {**training, "epochs": 2},
            with_nan(synthetic(256, 1), where, 2),
            synthetic(64, 2),
            IMAGE,
            **out,
        )
    assert not out["out_model"].exists()
    assert not (out["work_dir"] / "best").exists(), "no epoch was completed"


def test_a_non_finite_validation_loss_stops_naming_model_and_epoch(setup):
    """Training is fine, validation gives NaN: the best-epoch logic would never pick an epoch
    and keep the last one without a word."""
    model, training, out = setup
    with pytest.raises(
        FloatingPointError,
        match=r"model top_scalars: non-finite validation loss \(nan\) at epoch 1",
    ):
        train(
            model,
            {**training, "epochs": 2},
            synthetic(256, 1),
            with_nan(synthetic(64, 2), "target", 0),
            IMAGE,
            **out,
        )
    assert not out["out_model"].exists()
