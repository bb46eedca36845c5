"""Upsampling to the common grid: energy conservation, placement, shapes, TF equals numpy."""

import numpy as np
import pytest

from egcalib.core.contract import LAYERS
from egcalib.shards.upsampling import Upsampler, upsampling_factors

SHAPES = {"lr0": [7, 5], "lr1": [56, 5], "lr2": [7, 11], "lr3": [7, 11]}


@pytest.fixture(scope="module")
def upsampler():
    return Upsampler(SHAPES, (56, 55))


def windows(n, seed=0):
    rng = np.random.default_rng(seed)
    return {layer: rng.exponential(1.0, (n, *SHAPES[layer])).astype(np.float32) for layer in LAYERS}


def test_every_layer_energy_is_conserved(upsampler):
    cells = windows(64)
    images = upsampler(upsampler.concatenate(cells))
    assert images.shape == (64, 56, 55, 4) and images.dtype == np.float32
    for channel, layer in enumerate(LAYERS):
        np.testing.assert_allclose(
            images[..., channel].sum(axis=(1, 2)), cells[layer].sum(axis=(1, 2)), rtol=2e-6
        )


def test_each_coarse_cell_fills_its_block(upsampler):
    cells = {layer: np.zeros((1, *SHAPES[layer]), np.float32) for layer in LAYERS}
    cells["lr2"][0, 3, 7] = 10.0  # middle: 8 x 5 blocks
    cells["lr1"][0, 40, 2] = 22.0  # strips: 1 x 11 blocks
    images = upsampler(upsampler.concatenate(cells)).copy()
    middle = images[0, :, :, 2]
    np.testing.assert_allclose(middle[24:32, 35:40], 10.0 / 40)
    assert middle.sum() == pytest.approx(10.0) and np.count_nonzero(middle) == 40
    strips = images[0, :, :, 1]
    np.testing.assert_allclose(strips[40, 22:33], 2.0)
    assert np.count_nonzero(strips) == 11
    assert np.count_nonzero(images[0, :, :, [0, 3]]) == 0


def test_times_are_replicated_not_divided(upsampler):
    times = windows(3, seed=1)
    images = upsampler(upsampler.concatenate(times), intensive=True)
    np.testing.assert_array_equal(images[:, ::8, ::5, 2], times["lr2"])


def test_non_dividing_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"lr3.*does not divide"):
        upsampling_factors({**SHAPES, "lr3": [6, 11]}, (56, 55))
    assert upsampling_factors(SHAPES, (56, 55))["lr1"] == (1, 11)


def test_buffer_reuse_and_tensorflow_op_equal_numpy(upsampler):
    import tensorflow as tf

    native = upsampler.concatenate(windows(16, seed=2))
    expected = upsampler(native).copy()
    upsampler(native[:4] * 0)  # the buffer is reused: results must be copied to be kept
    np.testing.assert_array_equal(upsampler(native), expected)
    np.testing.assert_array_equal(upsampler.tf_upsample(tf.constant(native)).numpy(), expected)
    # Scaled per object on the native cells: bit for bit the upsampled image times the factor.
    factor = np.random.default_rng(3).uniform(1.0, 3000.0, 16).astype(np.float32)
    np.testing.assert_array_equal(
        upsampler.tf_upsample(tf.constant(native), factor=tf.constant(factor)).numpy(),
        expected * factor[:, None, None, None],
    )
    np.testing.assert_array_equal(
        upsampler.tf_upsample(tf.constant(native), intensive=True),
        upsampler(native, intensive=True),
    )
