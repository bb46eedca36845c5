"""CNN inference refuses to write NaN or infinite predictions."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tiny_shards import write_tiny_shard  # noqa: E402

from egcalib.infer.prediction import predict_files  # noqa: E402
from egcalib.train.input_pipeline import InputPipeline  # noqa: E402
from egcalib.train.normalisation import identity_statistics  # noqa: E402


class Broken:
    """A model whose outputs (correction, sigma) are NaN or infinite for some objects."""

    name = "broken"

    def __init__(self, bad_rows, column):
        self.bad_rows, self.column = bad_rows, column
        self.seen = 0

    def __call__(self, inputs, training=False):
        n = int(inputs["scalars"].shape[0])
        output = np.ones((n, 2), np.float32)
        rows = np.arange(self.seen, self.seen + n)
        output[np.isin(rows, self.bad_rows), self.column] = np.nan
        output[np.isin(rows, [r + 1 for r in self.bad_rows]), self.column] = np.inf
        self.seen += n
        return tf.constant(output)


@pytest.mark.parametrize("column", [0, 1], ids=["correction", "sigma"])
def test_non_finite_predictions_are_refused_naming_model_file_chunk_and_count(
    default_config, tmp_path, column
):
    shard, sidecar, shards = write_tiny_shard(
        tmp_path, default_config["images"], np.ones(10), split="test"
    )
    pipeline = InputPipeline(default_config["images"], shards, identity_statistics())
    out = tmp_path / "c000.parquet"
    with pytest.raises(
        ValueError,
        match=rf"model broken: 2 of 10 objects of {shard} with a non-finite prediction "
        rf"\(NaN or infinite\) for {out}; nothing written",
    ):
        predict_files(Broken([6], column), pipeline, [shard], [sidecar], out, 4)
    assert not out.exists()
    # Finite outputs are written as before.
    assert predict_files(Broken([], column), pipeline, [shard], [sidecar], out, 4) == 10
