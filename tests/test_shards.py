"""Shards: the pipeline yields exactly the skim rows; normalisation sees training objects only."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from ntuple_builder import skim_with

from egcalib.core.contract import CELL_COLUMNS, SCALAR_COLUMNS
from egcalib.shards.skim_table import fixed_size
from egcalib.shards.splits import SPLITS
from egcalib.shards.upsampling import Upsampler
from egcalib.train.normalisation import identity_statistics, training_statistics

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def skimmed(ntuple_dir, default_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("skim")
    config = default_config
    for dataset, kind, process in (("mc_zee", "mc", "zee"), ("data_zee", "data", "zee")):
        skim_with(
            config,
            ntuple_dir / f"{dataset}.root",
            out / f"{dataset}.parquet",
            dataset=dataset,
            file_name="f000",
            kind=kind,
            process=process,
        )
    return out


def write(skimmed, tmp_path, config, dataset="mc_zee", mode="upsampled", image_dtype="float32"):
    from egcalib.shards.writing import write_shards

    shards = {**config["shards"], "mode": mode, "image_dtype": image_dtype}
    paths = {s: tmp_path / f"{dataset}.{mode}.{image_dtype}.{s}.tfrecord" for s in SPLITS}
    sidecar = tmp_path / f"{dataset}.{mode}.{image_dtype}.parquet"
    counts = write_shards(
        skimmed / f"{dataset}.parquet", paths, sidecar, config["images"], config["splits"], shards
    )
    return paths, sidecar, counts, shards


IDENTITY = identity_statistics()


@pytest.mark.parametrize(
    "mode, time_images",
    [("upsampled", False), ("native", False), ("upsampled", True), ("native", True)],
)
def test_round_trip_pipeline_equals_parquet_rows(
    skimmed, tmp_path, default_config, mode, time_images
):
    from egcalib.core.contract import TIME_COLUMNS
    from egcalib.train.input_pipeline import InputPipeline, numpy_batches

    config = copy.deepcopy(default_config)
    config["images"]["time_images"] = time_images
    paths, sidecar, counts, shards = write(skimmed, tmp_path, config, mode=mode)
    pipeline = InputPipeline(config["images"], shards, IDENTITY)
    inputs, record = numpy_batches(
        pipeline.dataset(list(paths.values()), 32, training=False, with_ids=True)
    )
    skim = pq.read_table(skimmed / "mc_zee.parquet")
    side = pq.read_table(sidecar)
    assert len(record["eventNumber"]) == skim.num_rows == side.num_rows == sum(counts.values())
    key = {
        (int(e), int(i)): row
        for row, (e, i) in enumerate(
            zip(skim["eventNumber"].to_numpy(), skim["object_index"].to_numpy())
        )
    }
    rows = np.array(
        [key[(int(e), int(i))] for e, i in zip(record["eventNumber"], record["object_index"])]
    )
    assert sorted(rows) == list(range(skim.num_rows)), "every object exactly once"
    scalars = np.stack([skim[c].to_numpy() for c in SCALAR_COLUMNS], axis=1)
    np.testing.assert_array_equal(inputs["scalars"], scalars[rows])
    np.testing.assert_array_equal(inputs["track_mask"], fixed_size(skim["tracks_mask"])[rows])
    np.testing.assert_array_equal(
        inputs["tracks"].reshape(len(rows), -1), fixed_size(skim["tracks"])[rows]
    )
    upsampler = Upsampler(config["images"]["native_shapes"], config["images"]["target_shape"])
    native = upsampler.concatenate(
        {c.removeprefix("cells_"): fixed_size(skim[c]) for c in CELL_COLUMNS}
    )
    # Each object's image is divided by its E_acc spread over the 56 x 55 pixels; log(E_acc)
    # comes as its own input.
    e_acc = sum(skim[f"cl_E{i}"].to_numpy() for i in (1, 2, 3))[rows]
    scale = np.maximum(e_acc, 0.1) / (56 * 55)
    np.testing.assert_allclose(
        inputs["image"], upsampler(native[rows]) / scale[:, None, None, None], rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(inputs["log_e_acc"][:, 0], np.log(scale * 56 * 55), rtol=1e-5)
    if time_images:
        times = upsampler.concatenate(
            {c.removeprefix("time_"): fixed_size(skim[c]) for c in TIME_COLUMNS}
        )
        np.testing.assert_array_equal(inputs["time_image"], upsampler(times[rows], intensive=True))
    else:
        assert "time_image" not in inputs
    acc = sum(skim[f"cl_E{i}"].to_numpy() for i in (1, 2, 3))
    np.testing.assert_allclose(
        record["target"], (skim["e_truth"].to_numpy() / acc)[rows], rtol=1e-6
    )
    splits = side["split"].to_numpy(zero_copy_only=False)
    assert set(splits) <= set(SPLITS) and counts["train"] == np.sum(splits == "train")


@pytest.mark.parametrize(
    "mode, time_images",
    [("upsampled", False), ("native", True)],
)
def test_examples_hold_exactly_the_record_format(
    skimmed, tmp_path, default_config, mode, time_images
):
    """The writer writes what records.record_format says and the reader parses (one
    definition): every feature, of its kind and number of values, and nothing else."""
    from egcalib.shards.writing import record_format
    from egcalib.train.input_pipeline import InputPipeline

    config = copy.deepcopy(default_config)
    config["images"]["time_images"] = time_images
    paths, _, _, shards = write(skimmed, tmp_path, config, mode=mode)
    features = record_format(config["images"], shards)
    assert ("time_image" in features) == time_images
    assert set(InputPipeline(config["images"], shards, IDENTITY).spec) == set(features)
    serialized = next(iter(tf.data.TFRecordDataset(str(paths["train"])))).numpy()
    example = tf.train.Example.FromString(serialized).features.feature
    assert set(example) == set(features)
    for name, feature in features.items():
        size = int(np.prod(feature.shape))
        if feature.raw:
            assert len(example[name].bytes_list.value[0]) == 4 * size, name
        elif feature.dtype == "float32":
            assert len(example[name].float_list.value) == size, name
        else:
            assert len(example[name].int64_list.value) == size, name


def test_shards_are_byte_identical_across_runs(skimmed, tmp_path, default_config, repo):
    """Also across processes with different hash seeds (protobuf map order follows them)."""
    first = write(skimmed, tmp_path / "a", default_config)[0]
    (tmp_path / "b").mkdir()
    code = (
        "import sys, yaml; from pathlib import Path; sys.path.insert(0, 'tests'); "
        "from test_shards import write; "
        f"write(Path({str(skimmed)!r}), Path({str(tmp_path / 'b')!r}), "
        "yaml.safe_load(open('config.yaml')))"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", code], cwd=repo, env=environment, check=True)
    second = {split: tmp_path / "b" / path.name for split, path in first.items()}
    for split in SPLITS:
        assert first[split].read_bytes() == second[split].read_bytes()


def test_training_pipeline_masks_missing_targets(skimmed, tmp_path, default_config):
    from egcalib.train.input_pipeline import InputPipeline

    paths, _, _, shards = write(skimmed, tmp_path, default_config, dataset="data_zee")
    stats = training_statistics([skimmed / "data_zee.parquet"], default_config["splits"])
    pipeline = InputPipeline(default_config["images"], shards, stats)
    batches = list(
        pipeline.dataset(
            [paths["train"]], 16, training=True, target="label_target", seed=1
        ).as_numpy_iterator()
    )
    assert all(len(target) == 16 for _, target, _ in batches), "fixed batch shapes"
    targets = np.concatenate([t for _, t, _ in batches])
    weights = np.concatenate([w for _, _, w in batches])
    assert np.all(np.isfinite(targets)) and 0 < weights.sum() < len(weights)
    labelled = targets[weights > 0]
    assert 0.9 < np.median(labelled) < 1.3  # E_label / E_acc: a correction near 1
    again = list(
        pipeline.dataset(
            [paths["train"]], 16, training=True, target="label_target", seed=1
        ).as_numpy_iterator()
    )
    np.testing.assert_array_equal(np.concatenate([t for _, t, _ in again]), targets)


def test_files_read_in_parallel_give_the_same_batches(skimmed, tmp_path, default_config):
    """training.parallel_reads is an execution knob: one reader thread per file or one reader
    for all, the shuffled training batches are the same."""
    from egcalib.train.input_pipeline import InputPipeline

    files = [
        write(skimmed, tmp_path, default_config, dataset=d, mode="native")[0]["train"]
        for d in ("mc_zee", "data_zee")
    ]
    shards = {**default_config["shards"], "mode": "native"}
    batches = [
        list(
            InputPipeline(default_config["images"], shards, IDENTITY, reads)
            .dataset(files, 16, training=True, seed=3)
            .as_numpy_iterator()
        )
        for reads in (1, 3)
    ]
    assert len(batches[0]) == len(batches[1]) > 2
    for one, parallel in zip(*batches):
        np.testing.assert_array_equal(one[0]["image"], parallel[0]["image"])
        np.testing.assert_array_equal(one[1], parallel[1])


@pytest.mark.parametrize("mode", ["upsampled", "native"])
def test_float16_images_are_the_float32_ones_rounded(skimmed, tmp_path, default_config, mode):
    """shards.image_dtype float16: each stored image value is the float32 one rounded to the
    nearest float16 (relative error <= 2^-11 above 6e-5), everything else identical, in half
    the bytes for upsampled images."""
    from egcalib.train.input_pipeline import InputPipeline

    batches, size, files = {}, {}, {}
    for dtype in ("float32", "float16"):
        paths, _, _, shards = write(skimmed, tmp_path, default_config, mode=mode, image_dtype=dtype)
        pipeline = InputPipeline(default_config["images"], shards, IDENTITY)
        batches[dtype] = list(
            pipeline.dataset([paths["test"]], 64, training=False).as_numpy_iterator()
        )
        size[dtype] = sum(path.stat().st_size for path in paths.values())
        files[dtype] = paths["test"]
    assert len(batches["float32"]) == len(batches["float16"]) > 0
    for (inputs32, target32, _), (inputs16, target16, _) in zip(
        batches["float32"], batches["float16"], strict=True
    ):
        np.testing.assert_array_equal(target32, target16)
        np.testing.assert_array_equal(inputs32["scalars"], inputs16["scalars"])
        assert inputs16["image"].dtype == np.float32
        # Normalised images are O(1); below 6e-5 GeV float16 is subnormal (steps of 6e-8 GeV).
        np.testing.assert_allclose(inputs16["image"], inputs32["image"], rtol=2**-11, atol=1e-5)
        assert not np.array_equal(inputs16["image"], inputs32["image"])
    # On disk: exactly the float32 values rounded to the nearest float16.
    stored = {
        dtype: np.concatenate(
            [
                np.frombuffer(record.features.feature["image"].bytes_list.value[0], dtype)
                for record in map(
                    tf.train.Example.FromString,
                    tf.data.TFRecordDataset(str(files[dtype])).as_numpy_iterator(),
                )
            ]
        )
        for dtype in ("float32", "float16")
    }
    np.testing.assert_array_equal(stored["float16"], stored["float32"].astype(np.float16))
    if mode == "upsampled":
        assert size["float16"] < 0.6 * size["float32"]


def test_float16_images_refuse_cells_beyond_its_range(skimmed, tmp_path, default_config):
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pq.read_table(skimmed / "mc_zee.parquet")
    column = table.column_names.index("cells_lr2")
    hot = pa.array(
        [[1e5] + list(row[1:]) for row in table["cells_lr2"].to_pylist()],
        table.schema.field("cells_lr2").type,
    )
    hot_dir = tmp_path / "hot"
    hot_dir.mkdir()
    pq.write_table(table.set_column(column, "cells_lr2", hot), hot_dir / "mc_zee.parquet")
    assert pc.max(pc.list_flatten(hot)).as_py() == 1e5
    with pytest.raises(ValueError, match=r"mc_zee\.parquet: image holds 100000.*float16"):
        write(hot_dir, tmp_path, default_config, image_dtype="float16")
    write(hot_dir, tmp_path, default_config, image_dtype="float32")  # float32 holds it


def test_normalisation_uses_training_objects_only(skimmed, tmp_path, default_config):
    import pyarrow as pa
    import pyarrow.compute as pc

    splits = default_config["splits"]
    sidecar = write(skimmed, tmp_path, default_config)[1]
    split = pq.read_table(sidecar)["split"]
    table = pq.read_table(skimmed / "mc_zee.parquet")
    base = training_statistics([skimmed / "mc_zee.parquet"], splits)

    def with_scaled(which):
        scaled = pc.if_else(
            pc.equal(split, which), pc.multiply(table["scalar_E_acc"], 10.0), table["scalar_E_acc"]
        )
        changed = table.set_column(
            table.column_names.index("scalar_E_acc"), "scalar_E_acc", scaled.cast(pa.float32())
        )
        path = tmp_path / f"{which}.parquet"
        pq.write_table(changed, path)
        return training_statistics([path], splits)

    assert with_scaled("val")["scalar_median"] == base["scalar_median"]
    assert with_scaled("test")["scalar_iqr"] == base["scalar_iqr"]
    assert with_scaled("train")["scalar_median"][0] > 5 * base["scalar_median"][0]
    assert base["n_objects"] == int(np.sum(split.to_numpy(zero_copy_only=False) == "train"))
    # MC objects all have a truth target: every validation object counts.
    assert base["n_val_objects"] == int(np.sum(split.to_numpy(zero_copy_only=False) == "val")) > 0
    train = split.to_numpy(zero_copy_only=False) == "train"
    e_acc = sum(table[f"cl_E{i}"].to_numpy().astype(np.float64) for i in (1, 2, 3))
    target = (table["e_truth"].to_numpy() / e_acc)[train]
    q25, median, q75 = np.percentile(target, [25, 50, 75])
    assert base["target_median"] == pytest.approx(median, rel=1e-5)
    assert base["target_iqr"] == pytest.approx(q75 - q25, rel=1e-4)
    q25, median, q75 = np.percentile(np.log(np.maximum(e_acc[train], 0.1)), [25, 50, 75])
    assert base["log_e_acc_median"] == pytest.approx(median, rel=1e-5)
    assert base["log_e_acc_iqr"] == pytest.approx(q75 - q25, rel=1e-4)


def test_empty_skim_gives_empty_valid_shards(tmp_path, default_config):
    from egcalib.shards.writing import write_shards
    from egcalib.skim.skimming import arrow_schema
    from egcalib.train.input_pipeline import InputPipeline

    empty = tmp_path / "empty.parquet"
    pq.write_table(arrow_schema(default_config["images"]["native_shapes"]).empty_table(), empty)
    paths = {s: tmp_path / f"e.{s}.tfrecord" for s in SPLITS}
    counts = write_shards(
        empty,
        paths,
        tmp_path / "side.parquet",
        default_config["images"],
        default_config["splits"],
        default_config["shards"],
    )
    assert counts == {"train": 0, "val": 0, "test": 0}
    assert pq.read_table(tmp_path / "side.parquet").num_rows == 0
    pipeline = InputPipeline(default_config["images"], default_config["shards"], IDENTITY)
    assert list(pipeline.dataset(list(paths.values()), 8, training=False).as_numpy_iterator()) == []


def test_an_energy_scaled_copy_of_an_object_gives_the_network_the_same_image():
    """Images enter divided by E_acc: a copy of an object with every cell and E_acc scaled by k
    (the same shower at k times the energy) gives the same image input, to float precision;
    only log_e_acc moves, by ln k / IQR. So the network sees shapes and ratios alike at 5 GeV
    and 1 TeV, and the energy scale only where it uses it."""
    from egcalib.train.normalisation import normalise

    rng = np.random.default_rng(3)
    stats = {**IDENTITY, "log_e_acc_median": 3.5, "log_e_acc_iqr": 0.8}
    image = rng.exponential(0.2, (5, 56, 55, 4)).astype(np.float32)
    e_acc = image[..., 1:].sum(axis=(1, 2, 3))
    base = {
        "image": image,
        "e_acc": e_acc,
        "scalars": np.zeros((5, 16), np.float32),
        "tracks": np.zeros((5, 10, 11), np.float32),
        "track_mask": np.zeros((5, 10), np.float32),
    }
    for k in (0.1, 20.0):
        scaled = normalise(
            {**base, "image": image * np.float32(k), "e_acc": e_acc * np.float32(k)}, stats
        )
        nominal = normalise(base, stats)
        np.testing.assert_allclose(scaled["image"], nominal["image"], rtol=1e-5)
        np.testing.assert_allclose(
            scaled["log_e_acc"] - nominal["log_e_acc"], np.log(k) / 0.8, rtol=1e-5
        )
        assert "e_acc" not in scaled  # the raw energy never reaches the network
    # O(1) cell values (E_acc spread over the pixels), far above BatchNorm's epsilon: E_acc is
    # the sum of layers 1-3, so their normalised cells average to one per pixel.
    np.testing.assert_allclose(
        nominal["image"][..., 1:].sum(axis=-1).mean(axis=(1, 2)), 1.0, rtol=1e-4
    )
