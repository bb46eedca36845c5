"""The cells of an object as a set of tokens (``kind: transformer``, docs/design.md#models).

The input pipeline gives the CNN's image: each layer's native window upsampled to (56, 55) by
nearest-neighbour integer factors, divided by the factor product and scaled by pixels / E_acc
(docs/design.md#images). Summing each layer's factor blocks undoes the upsampling exactly, so
CellTokens recovers the 469 native cells inside the network and makes one token per cell: its
energy, its position and its layer (and its time with time images). The tokens are a set:
nothing but their features says where a cell is, so the encoder (models.encode_set) sees the
strips of layer 1 at their own granularity instead of replicated 8 x 11 times, and cells below
a threshold are masked out instead of being convolved over. With ``max_tokens`` only the most
energetic cells become tokens: attention costs the square of the token count, and most of the
469 cells hold noise alone (docs/design.md#models).

Geometry: the toy detector gives every layer the middle layer's window, 7 x 11 middle cells of
0.025 x 2 pi / 256 around the hottest one (egcalib/simulation/calorimeter.py, ``window_eta`` and
``window_phi``), divided into the layer's native shape: lr0 7x5 cells of 0.025 x 0.054, lr1 56x5
strips of 0.003125 x 0.054, lr2 and lr3 7x11 of 0.025 x 0.0245.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import layers, ops

if TYPE_CHECKING:
    import tensorflow as tf  # the Keras backend: its tensors

# Cell energies span 1e-4 to 1 of E_acc: asinh(e / ENERGY_SCALE) gives the small ones a
# resolution the linear feature has not (linear below ~1e-3 of E_acc, logarithmic above).
ENERGY_SCALE = 1e-3


def cell_geometry(native_shapes: Sequence[Sequence[int]]) -> np.ndarray:
    """(n_cells, 2 + n_layers) float32, per native cell in layer order then eta-major: its eta
    and phi offsets from the window centre in middle-cell units (0.025 and 2 pi / 256: every
    layer spans the middle layer's window, the module docstring says why) and the one-hot of its
    layer. ``native_shapes``: (n_eta, n_phi) per layer, the middle layer third (LAYERS)."""
    mid_eta, mid_phi = native_shapes[2]
    rows = []
    for index, (n_eta, n_phi) in enumerate(native_shapes):
        size_eta, size_phi = mid_eta / n_eta, mid_phi / n_phi  # [middle cells]
        eta = (np.arange(n_eta) + 0.5) * size_eta - mid_eta / 2
        phi = (np.arange(n_phi) + 0.5) * size_phi - mid_phi / 2
        grid_eta, grid_phi = np.meshgrid(eta, phi, indexing="ij")
        one_hot = np.zeros((n_eta * n_phi, len(native_shapes)))
        one_hot[:, index] = 1.0
        rows.append(np.column_stack([grid_eta.ravel(), grid_phi.ravel(), one_hot]))
    return np.concatenate(rows).astype(np.float32)


@keras.saving.register_keras_serializable(package="egcalib")
class CellTokens(layers.Layer):
    """The upsampled, scaled image (n, H, W, n_layers) [and its time image] -> the tokens (n,
    T, F) and their mask (n, T), 1 for a cell with |E| >= ``cell_threshold`` x E_acc. T is
    n_cells, or with ``max_tokens`` (< n_cells) the ``max_tokens`` cells of largest |E|, in
    decreasing |E| (ties broken by the cells' order, layer then eta-major).

    Per cell: E / E_acc, asinh(E / E_acc / ENERGY_SCALE), cell_geometry's position and layer
    one-hot, and with ``time`` its time [ns] (the mean of its replicated block). Masked tokens
    are zero whatever their cells hold, so they cannot reach the output through any path. The
    token count is fixed (T), so the shapes are static (ONNX) and the mask alone drops the cells
    below the threshold. Raises ValueError when a native shape does not divide the image's or
    ``max_tokens`` is below 1."""

    def __init__(
        self, native_shapes, image_shape, cell_threshold, time=False, max_tokens=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.native_shapes = [tuple(int(v) for v in shape) for shape in native_shapes]
        self.image_shape = tuple(int(v) for v in image_shape[:2])
        self.cell_threshold = float(cell_threshold)
        self.time = bool(time)
        if max_tokens is not None and int(max_tokens) < 1:
            raise ValueError(f"max_tokens {max_tokens}: at least one token is needed")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        height, width = self.image_shape
        for n_eta, n_phi in self.native_shapes:
            if height % n_eta or width % n_phi:
                raise ValueError(
                    f"native cell window {n_eta}x{n_phi} does not divide the image "
                    f"{height}x{width}: the cells cannot be recovered from it"
                )
        self.geometry = cell_geometry(self.native_shapes)
        if self.max_tokens is not None and self.max_tokens >= len(self.geometry):
            self.max_tokens = None  # every cell: no selection

    def _native(self, image: tf.Tensor, mean: bool) -> tf.Tensor:
        """(n, n_cells): each layer's factor blocks summed (energies) or averaged (times)."""
        height, width = self.image_shape
        cells = []
        for index, (n_eta, n_phi) in enumerate(self.native_shapes):
            f_eta, f_phi = height // n_eta, width // n_phi
            blocks = ops.reshape(image[..., index], (-1, n_eta, f_eta, n_phi, f_phi))
            total = ops.sum(blocks, axis=(2, 4))
            total = total / (f_eta * f_phi) if mean else total
            cells.append(ops.reshape(total, (-1, n_eta * n_phi)))
        return ops.concatenate(cells, axis=1)

    def call(self, inputs: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        pixels = self.image_shape[0] * self.image_shape[1]
        # The image is E x pixels / E_acc spread over the block: its block sums / pixels are
        # E / E_acc of the native cells.
        energy = self._native(inputs[0], mean=False) / pixels
        geometry = ops.convert_to_tensor(self.geometry, dtype=energy.dtype)
        time = self._native(inputs[1], mean=True) if self.time else None
        if self.max_tokens is None:
            geometry = ops.zeros_like(energy)[..., None] + geometry[None]
        else:
            _, index = ops.top_k(ops.abs(energy), self.max_tokens, sorted=True)
            energy = ops.take_along_axis(energy, index, axis=1)
            geometry = ops.take(geometry, index, axis=0)
            time = None if time is None else ops.take_along_axis(time, index, axis=1)
        keep = ops.abs(energy) >= self.cell_threshold
        features = [energy[..., None], ops.arcsinh(energy / ENERGY_SCALE)[..., None], geometry]
        if time is not None:
            features.append(time[..., None])
        tokens = ops.concatenate(features, axis=-1)
        # where, not a product: a masked cell's value (even a non-finite one) cannot leak.
        tokens = ops.where(keep[..., None], tokens, ops.zeros_like(tokens))
        return tokens, ops.cast(keep, tokens.dtype)

    def compute_output_spec(
        self, inputs: Sequence[keras.KerasTensor]
    ) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        n_cells = self.max_tokens or self.geometry.shape[0]
        width = self.geometry.shape[1] + 2 + int(self.time)
        batch = inputs[0].shape[0]
        return (
            keras.KerasTensor((batch, n_cells, width), dtype=self.compute_dtype),
            keras.KerasTensor((batch, n_cells), dtype=self.compute_dtype),
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "native_shapes": [list(shape) for shape in self.native_shapes],
            "image_shape": list(self.image_shape),
            "cell_threshold": self.cell_threshold,
            "time": self.time,
            "max_tokens": self.max_tokens,
        }


@keras.saving.register_keras_serializable(package="egcalib")
class KeyMask(layers.Layer):
    """The token mask (n, T) -> the attention mask (n, 1, T): every token attends to the real
    ones only (broadcast over queries; a (n, T, T) mask would cost T x more memory)."""

    def call(self, mask: tf.Tensor) -> tf.Tensor:
        return ops.expand_dims(ops.cast(mask, "bool"), 1)

    def compute_output_spec(self, mask: keras.KerasTensor) -> keras.KerasTensor:
        return keras.KerasTensor((mask.shape[0], 1, mask.shape[1]), dtype="bool")


@keras.saving.register_keras_serializable(package="egcalib")
class TokenFiLM(layers.Layer):
    """FiLM on tokens: x * (1 + gamma) + beta, per feature, the same for every token."""

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        tokens, gamma, beta = inputs
        return tokens * (1.0 + gamma[:, None, :]) + beta[:, None, :]


def encoder_block(
    x: keras.KerasTensor,
    attention_mask: keras.KerasTensor,
    settings: dict,
    activation: str,
    name: str,
) -> keras.KerasTensor:
    """One pre-norm transformer encoder block on tokens ``x`` (n, T, d_model): x + MHA(LN(x)),
    then x + MLP(LN(x)) (Xiong et al., arXiv:2002.04745: pre-norm trains without warm-up).
    ``settings``: the spec's ``transformer`` (d_model, heads, mlp_ratio)."""
    d_model, heads = settings["d_model"], settings["heads"]
    h = layers.LayerNormalization(name=f"{name}_norm_attention")(x)
    h = layers.MultiHeadAttention(heads, d_model // heads, name=f"{name}_attention")(
        h, h, attention_mask=attention_mask
    )
    x = layers.Add(name=f"{name}_add_attention")([x, h])
    h = layers.LayerNormalization(name=f"{name}_norm_mlp")(x)
    h = layers.Dense(settings["mlp_ratio"] * d_model, activation=activation, name=f"{name}_mlp0")(h)
    h = layers.Dense(d_model, name=f"{name}_mlp1")(h)
    return layers.Add(name=f"{name}_add_mlp")([x, h])
