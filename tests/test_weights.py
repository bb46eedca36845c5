"""Negative and zero MC event weights: one policy (training.negative_weights) for every trainer,
its effective sample sizes, and non-finite weights stopping training (egcalib.train.weights)."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egcalib.core.rule_params import output_settings
from egcalib.train.weights import (
    NEGATIVE_WEIGHT_POLICIES,
    describe_split_weights,
    effective_sample_size,
    sidecar_objects,
    trained_weights,
    weight_summary,
)

# An NLO-like sample: weights -1 and +1 (and other sizes), one zero.
SIGNED = np.array([1.0, -1.0, 2.0, 0.0, -0.5, 1.0, 1.0, -1.0])
EXPECTED = {
    "abs": [1.0, 1.0, 2.0, 0.0, 0.5, 1.0, 1.0, 1.0],
    "drop": [1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 1.0, 0.0],
    "unit": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0],
}


@pytest.mark.parametrize("policy", NEGATIVE_WEIGHT_POLICIES)
def test_each_policy_gives_non_negative_weights_and_keeps_positive_ones(policy):
    trained = trained_weights(SIGNED, policy)
    np.testing.assert_array_equal(trained, EXPECTED[policy])
    assert trained[3] == 0, "a zero weight contributes nothing under every policy"
    positive = np.array([0.25, 1.0, 3.5], np.float32)
    same = trained_weights(positive, policy)
    assert same.dtype == np.float32
    if policy != "unit":  # all-positive weights: unchanged, bit for bit
        assert same.tobytes() == positive.tobytes()


def test_an_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match=r"unknown policy 'flip'.*\['abs', 'drop', 'unit'\]"):
        trained_weights(SIGNED, "flip")


def test_kish_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size([]) == 0.0 and effective_sample_size([0.0, 0.0]) == 0.0
    # A fraction f of weights -1: N_eff = n (1 - 2 f)^2.
    weights = np.r_[np.ones(70), -np.ones(30)]
    assert effective_sample_size(weights) == pytest.approx(100 * 0.4**2)
    assert effective_sample_size([1.0, 3.0]) == pytest.approx(16 / 10)


@pytest.mark.parametrize(
    "policy, n_eff_trained",
    # sum w = 2.5, sum w^2 = 9.25 signed; trained: abs 7.5^2 / 9.25, drop 5^2 / 7,
    # unit 7^2 / 7.
    [("abs", 7.5**2 / 9.25), ("drop", 25 / 7), ("unit", 7.0)],
)
def test_summary_counts_and_effective_sizes_signed_and_trained(policy, n_eff_trained):
    summary = weight_summary(SIGNED, policy)
    assert summary["n"] == 8 and summary["negative"] == 3 and summary["zero"] == 1
    assert summary["n_eff_signed"] == pytest.approx(2.5**2 / 9.25)
    assert summary["n_eff_trained"] == pytest.approx(n_eff_trained)


def write_sidecar(path, weight, target, split="train"):
    n = len(weight)
    pq.write_table(
        pa.table(
            {
                "weight": np.asarray(weight, np.float32),
                "target": np.asarray(target, np.float32),
                "label_target": np.full(n, np.nan, np.float32),
                "split": [split] * n,
            }
        ),
        path,
    )
    return path


def test_the_training_log_lines_give_counts_and_both_effective_sizes(tmp_path):
    target = np.r_[np.full(8, 1.02), np.nan]  # the last object has no target: not trained on
    sidecar = write_sidecar(tmp_path / "f000.parquet", [*SIGNED, -7.0], target)
    (line,) = describe_split_weights("m", {"mc": [sidecar], "data": []}, "train", "abs")
    assert line == (
        "model m: 8 mc train objects, 3 with a negative and 1 with a zero weight; Kish N_eff = "
        f"(sum w)^2 / sum w^2 {2.5**2 / 9.25:.1f} signed, {7.5**2 / 9.25:.1f} as trained "
        "(training.negative_weights: abs)"
    )
    assert describe_split_weights("m", {"mc": [sidecar]}, "val", "abs") == [
        "model m: 0 mc val objects, 0 with a negative and 0 with a zero weight; Kish N_eff = "
        "(sum w)^2 / sum w^2 0.0 signed, 0.0 as trained (training.negative_weights: abs)"
    ]


@pytest.mark.parametrize(
    "weight, target, what",
    [
        ([1.0, np.nan, 1.0], [1.0, 1.0, 1.0], "weight"),
        ([1.0, np.inf, 1.0], [1.0, 1.0, 1.0], "weight"),
        ([1.0, 1.0, 1.0], [1.0, np.inf, 1.0], r"target \(target\)"),
    ],
)
def test_a_non_finite_weight_or_target_stops_training_naming_model_and_file(
    tmp_path, weight, target, what
):
    sidecar = write_sidecar(tmp_path / "f000.parquet", weight, target)
    with pytest.raises(
        ValueError,
        match=rf"model m: {sidecar} \(train split\): 1 training objects with a "
        rf"non-finite {what}",
    ):
        describe_split_weights("m", {"mc": [sidecar]}, "train", "abs")


def test_a_nan_weight_of_an_object_without_a_target_is_no_training_object(tmp_path):
    sidecar = write_sidecar(tmp_path / "f000.parquet", [1.0, np.nan], [1.0, np.nan])
    assert sidecar_objects(sidecar, "train", "mc").num_rows == 1


def test_the_policy_is_a_setting_of_the_rules_not_an_execution_knob(default_config, repo):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    assert default_config["training"]["negative_weights"] == "abs"
    assert output_settings(default_config, "training")["negative_weights"] == "abs"
    for policy in NEGATIVE_WEIGHT_POLICIES:
        config = copy.deepcopy(default_config)
        config["training"]["negative_weights"] = policy
        validate(config, str(repo / "config.schema.yaml"))
    config["training"]["negative_weights"] = "flip"
    with pytest.raises(WorkflowError, match="negative_weights"):
        validate(config, str(repo / "config.schema.yaml"))
    # The BDT rule takes it explicitly (its params are not the whole training section).
    rules = (repo / "rules" / "train.smk").read_text()
    bdt_rule = rules[rules.index("rule train_bdt:") :]
    assert 'negative_weights=config["training"]["negative_weights"]' in bdt_rule


@pytest.mark.parametrize("policy", NEGATIVE_WEIGHT_POLICIES)
def test_the_cnn_input_pipeline_applies_the_policy(default_config, tmp_path, policy):
    """Keras gets the policy's weights (tf.math through the same function as the BDT), weight 0
    for objects without a target, in file order."""
    pytest.importorskip("tensorflow")
    from tiny_shards import write_tiny_shard

    from egcalib.train.input_pipeline import InputPipeline, numpy_batches
    from egcalib.train.normalisation import identity_statistics

    target = np.r_[np.full(7, 1.02), np.nan]
    weight = np.r_[SIGNED[:7], -3.0]
    shard, _, shards = write_tiny_shard(tmp_path, default_config["images"], weight, target)
    pipeline = InputPipeline(default_config["images"], shards, identity_statistics())
    dataset = pipeline.dataset([shard], 3, training=False, negative_weights=policy)
    _, targets, weights = numpy_batches(dataset)
    np.testing.assert_array_equal(weights, [*EXPECTED[policy][:7], 0.0])
    np.testing.assert_allclose(targets, [*target[:7], 1.0])
    with pytest.raises(ValueError, match="unknown policy 'flip'"):
        pipeline.dataset([shard], 3, training=False, negative_weights="flip")
