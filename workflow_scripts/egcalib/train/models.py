"""The DeepCalo network (seed 000): CNNnet with FiLM, ScalarNet, TrackNet and Top, from config.

Each model entry says where the scalars and tracks go: ``film: [scalars, tracks]`` feeds them to
the FiLM generator, which produces a per-channel (gamma, beta) for every convolution of the CNN;
``top: [scalars, tracks]`` concatenates them with the pooled CNN features before the Top dense
block. The 12 variants of the seed's ablation table are 12 such entries. The network predicts a
correction r = E_true / E_acc (ReLU output); with the ``mdn`` loss it also predicts a
per-object resolution sigma > 0 (softplus). A ``kind: transformer`` entry replaces the CNN by a
set encoder on the native cells (egcalib.train.transformer, encode_set): the same inputs, FiLM
(per encoder block, in place of per convolution), Top, heads and losses.

Target normalisation (seed 002): the last Dense layer predicts z on a unit scale, and the output
is relu(median + iqr * z) with the median and IQR of the training targets, so the network starts
at the median correction and learns fluctuations of order one instead of a ~1 offset with
~0.05 wiggles (which costs the first epochs and makes training unstable).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras
from keras import layers, ops

from egcalib.core.contract import LAYERS, N_TRACKS, SCALARS, TRACK_FEATURES
from egcalib.train.normalisation import DEFAULT_TARGET_SCALE
from egcalib.train.transformer import CellTokens, KeyMask, TokenFiLM, encoder_block

if TYPE_CHECKING:
    import tensorflow as tf  # the Keras backend: its tensors

INPUT_NAMES = ("image", "log_e_acc", "scalars", "tracks", "track_mask")


@keras.saving.register_keras_serializable(package="egcalib")
class FiLM(layers.Layer):
    """Feature-wise linear modulation: x * (1 + gamma) + beta, per channel."""

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        features, gamma, beta = inputs
        return features * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :]


@keras.saving.register_keras_serializable(package="egcalib")
class MaskedPooling(layers.Layer):
    """Sum and mean over the real tracks (or cells): invariant to their order and to the padding.
    ``mean_only``: the mean alone (a transformer's cells, whose sum would grow with their count
    after LayerNorm); zero when every element is padding."""

    def __init__(self, mean_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean_only = bool(mean_only)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        features, mask = inputs
        mask = ops.expand_dims(ops.cast(mask, features.dtype), -1)
        total = ops.sum(features * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        if self.mean_only:
            return total / count
        return ops.concatenate([total, total / count], axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean_only": self.mean_only}


@keras.saving.register_keras_serializable(package="egcalib")
class MaskTracks(layers.Layer):
    """Zero the per-track features of padding slots (Dense biases would make them non-zero)."""

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        features, mask = inputs
        return features * ops.expand_dims(ops.cast(mask, features.dtype), -1)


@keras.saving.register_keras_serializable(package="egcalib")
class TargetScale(layers.Layer):
    """z -> median + iqr * z: the training targets' scale, fixed (not trained)."""

    def __init__(self, median, iqr, **kwargs):
        super().__init__(**kwargs)
        self.median, self.iqr = float(median), float(iqr)

    def call(self, z: tf.Tensor) -> tf.Tensor:
        return self.median + self.iqr * z

    def get_config(self) -> dict:
        return {**super().get_config(), "median": self.median, "iqr": self.iqr}


@keras.saving.register_keras_serializable(package="egcalib")
class SigmaScale(layers.Layer):
    """sigma -> scale * sigma, with ``scale`` a non-trainable weight: 1 while training, then set
    from the validation pulls (resolution_calibration.calibrate_sigma), so the saved model, its
    float32 copy and ONNX all carry the calibrated resolution."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="scale")

    def call(self, sigma: tf.Tensor) -> tf.Tensor:
        return sigma * ops.cast(self.scale, sigma.dtype)


def _dense_block(x, units, activation, name, batch_norm=None):
    """Dense layers, each followed by BatchNorm (``batch_norm`` is its momentum; None: none)."""
    for i, width in enumerate(units):
        x = layers.Dense(width, name=f"{name}_dense{i}")(x)
        if batch_norm is not None:
            x = layers.BatchNormalization(momentum=batch_norm, name=f"{name}_bn{i}")(x)
        x = layers.Activation(activation, name=f"{name}_act{i}")(x)
    return x


def conv_channels(cnn: dict) -> list[int]:
    """Output channels of every convolution: blocks x depth, filters doubling per block."""
    return [
        cnn["filters"] * 2**block for block in range(cnn["blocks"]) for _ in range(cnn["depth"])
    ]


def build_model(
    spec: dict,
    image_shape: Sequence[int],
    time_images: bool = False,
    target_scale: tuple[float, float] = DEFAULT_TARGET_SCALE,
    native_shapes: dict | None = None,
) -> keras.Model:
    """The Keras network of ``spec`` (a resolved model entry, egcalib.core.model_specs);
    ``target_scale`` is (median, IQR) of the training targets (normalisation.json);
    ``native_shapes``: layer -> (n_eta, n_phi) cell window (config images.native_shapes), which
    a transformer needs to recover the cells from the image (ValueError without it)."""
    arch = spec["architecture"]
    activation = arch["activation"]
    # BatchNorm's moving statistics (used at inference) follow the batches with this momentum:
    # Keras's 0.99 needs thousands of steps, far more than a short CPU training makes.
    momentum = arch.get("batch_norm_momentum", 0.99)
    inputs = {
        "image": keras.Input(image_shape, name="image"),
        "scalars": keras.Input((len(SCALARS),), name="scalars"),
        "tracks": keras.Input((N_TRACKS, len(TRACK_FEATURES)), name="tracks"),
        "track_mask": keras.Input((N_TRACKS,), name="track_mask"),
        "log_e_acc": keras.Input((1,), name="log_e_acc"),
    }
    if time_images:  # the seed's "gate" image: cell times as extra channels
        inputs["time_image"] = keras.Input(image_shape, name="time_image")

    branches = {}
    uses = set(spec["film"]) | set(spec["top"])
    if "scalars" in uses:
        branches["scalars"] = _dense_block(
            inputs["scalars"], arch["scalarnet"], activation, "scalarnet", momentum
        )
    if "tracks" in uses:
        per_track = inputs["tracks"]
        for i, width in enumerate(arch["tracknet"]):
            per_track = layers.Dense(width, activation=activation, name=f"tracknet_dense{i}")(
                per_track
            )
            per_track = MaskTracks(name=f"tracknet_mask{i}")([per_track, inputs["track_mask"]])
        pooled = MaskedPooling(name="tracknet_pool")([per_track, inputs["track_mask"]])
        branches["tracks"] = layers.BatchNormalization(momentum=momentum, name="tracknet_bn")(
            pooled
        )

    if spec.get("kind", "cnn") == "transformer":
        if native_shapes is None:
            raise ValueError(f"model {spec['name']}: a transformer needs the native shapes")
        tokens, mask = CellTokens(
            [native_shapes[layer] for layer in LAYERS],
            image_shape,
            spec["transformer"]["cell_threshold"],
            time=time_images,
            max_tokens=spec["transformer"].get("max_tokens"),
            # float32 under mixed precision too: the mask (a threshold on E / E_acc) is then
            # the one of the float32 copy and of the ONNX export.
            dtype="float32",
            name="cell_tokens",
        )([inputs["image"]] + ([inputs["time_image"]] if time_images else []))
        widths = [spec["transformer"]["d_model"]] * spec["transformer"]["layers"]
        film = _film_params(spec, branches, widths, activation, momentum)
        x = encode_set(tokens, mask, spec["transformer"], activation, film)
    else:
        image = inputs["image"]
        if time_images:
            image = layers.Concatenate(name="image_and_time")([image, inputs["time_image"]])
        channels = conv_channels(arch["cnn"])
        film = _film_params(spec, branches, channels, activation, momentum)
        x = _cnn_features(image, arch, channels, film, activation, momentum)

    # The images are divided by E_acc (normalisation.py): the energy scale joins at the top, so
    # every variant, the CNN alone included, can make its correction depend on it.
    top = [x, inputs["log_e_acc"]] + [branches[name] for name in spec["top"]]
    x = layers.Concatenate(name="top_in")(top)
    x = _dense_block(x, arch["top"], activation, "top")
    # Zero-initialised: every model starts at the median training target.
    z = layers.Dense(1, kernel_initializer="zeros", name="correction_z")(x)
    median, iqr = target_scale
    correction = layers.Activation("relu", name="correction")(
        TargetScale(median, iqr, name="target_scale")(z)
    )
    if spec["loss"]["name"] == "mdn":
        sigma = layers.Dense(1, activation="softplus", name="sigma_raw")(x)
        sigma = TargetScale(1e-4, iqr, name="sigma_unscaled")(sigma)  # the targets' spread
        sigma = SigmaScale(name="sigma", dtype="float32")(sigma)
        outputs = layers.Concatenate(name="correction_and_sigma", dtype="float32")(
            [correction, sigma]
        )
    else:
        outputs = layers.Activation("linear", dtype="float32", name="output")(correction)
    return keras.Model(inputs, outputs, name=spec["name"])


def _film_params(spec, branches, widths, activation, momentum):
    """The FiLM generator on the spec's ``film`` inputs: (n, 2 sum(widths)), every gamma then
    every beta, one per feature of each modulated layer of ``widths``; None without film."""
    if not spec["film"]:
        return None
    context = [branches[name] for name in spec["film"]]
    context = context[0] if len(context) == 1 else layers.Concatenate(name="film_in")(context)
    context = _dense_block(context, spec["architecture"]["film"], activation, "film", momentum)
    # Zero-initialised: every modulation starts as the identity.
    return layers.Dense(2 * sum(widths), kernel_initializer="zeros", name="film_params")(context)


def _cnn_features(image, arch, channels, film, activation, momentum):
    """The CNN on the image: Conv -> BatchNorm -> FiLM -> activation per convolution, MaxPool
    between blocks, global max pool: (n, channels[-1])."""
    x, offset = image, 0
    for index, width in enumerate(channels):
        block = index // arch["cnn"]["depth"]
        if index and index % arch["cnn"]["depth"] == 0:
            x = layers.MaxPooling2D(2, padding="same", name=f"pool{block}")(x)
        x = layers.Conv2D(width, arch["cnn"]["kernel"], padding="same", name=f"conv{index}")(x)
        if arch["cnn"].get("normalisation", "batch") == "batch":
            x = layers.BatchNormalization(momentum=momentum, name=f"conv_bn{index}")(x)
        if film is not None:
            gamma = film[:, offset : offset + width]
            beta = film[:, sum(channels) + offset : sum(channels) + offset + width]
            x = FiLM(name=f"film{index}")([x, gamma, beta])
        x = layers.Activation(activation, name=f"conv_act{index}")(x)
        offset += width
    return layers.GlobalMaxPooling2D(name="global_max_pool")(x)


def encode_set(
    tokens: keras.KerasTensor,
    mask: keras.KerasTensor,
    settings: dict,
    activation: str,
    film: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """The set encoder: tokens (n, T, F) with their mask (n, T) -> (n, d_model), the masked mean
    of the encoded real tokens. A Dense embedding (its weights on the layer one-hot are the
    learned layer embedding), ``settings["layers"]`` pre-norm encoder blocks
    (transformer.encoder_block) attending to the real tokens only, each followed by FiLM with
    the block's slice of ``film`` (_film_params; None: none), a final LayerNorm. No positional
    encoding beyond the tokens' features: permuting the tokens leaves the output unchanged, and
    masked tokens (their values, their number) change nothing."""
    d_model, depth = settings["d_model"], settings["layers"]
    attention_mask = KeyMask(name="set_attention_mask")(mask)
    x = layers.Dense(d_model, name="set_embedding")(tokens)
    for index in range(depth):
        x = encoder_block(x, attention_mask, settings, activation, f"set_block{index}")
        if film is not None:
            offset = index * d_model
            gamma = film[:, offset : offset + d_model]
            beta = film[:, depth * d_model + offset : depth * d_model + offset + d_model]
            x = TokenFiLM(name=f"film{index}")([x, gamma, beta])
    x = layers.LayerNormalization(name="set_norm")(x)
    return MaskedPooling(mean_only=True, name="set_pool")([x, mask])


def float32_copy(model: keras.Model) -> keras.Model:
    """The same network computing in float32: every layer rebuilt with the float32 policy and the
    trained weights copied (mixed precision keeps its variables in float32, so nothing is lost).

    A GPU training runs under ``mixed_float16``: its layers compute in float16, whose outputs are
    quantised to ~1e-3 relative (0.9584961, 1.0117188, ...), and ONNX (float32) differs from them
    by ~3e-4. Inference and the ONNX export both use this copy, so the two agree to float32
    rounding and the predictions do not depend on the precision the model was trained in.
    """

    def rebuild(layer):
        config = layer.get_config()
        if "dtype" in config:  # layers; the graph's operations (slices) have no policy
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=rebuild)
    copy.set_weights(model.get_weights())
    return copy


def copy_weights(source: keras.Model, target: keras.Model) -> int:
    """Start ``target`` from ``source``'s weights (transfer learning): every layer of ``target``
    with weights takes those of the layer of the same name in ``source``. Returns the number of
    layers copied.

    Electron and photon showers share their development beyond the first radiation length, so a
    network trained on the larger electron sample is a starting point for the smaller photon one
    (fine-tuning; Yosinski et al., arXiv:1411.1792). Raises ValueError naming both models and the
    layer when ``source`` lacks a layer or its weights have other shapes (another architecture or
    other inputs).
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        origin = by_name.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        found = None if origin is None else [tuple(w.shape) for w in origin.weights]
        if origin is None or found != shapes:
            raise ValueError(
                f"model {target.name} cannot start from model {source.name}: its layer "
                f"{layer.name} has weights of shapes {shapes}, {source.name} "
                + ("has no such layer" if origin is None else f"has {found}")
                + " (init_from needs the same architecture, film and top inputs)"
            )
        layer.set_weights(origin.get_weights())
        copied += 1
    return copied


def load_for_inference(path: str | Path) -> keras.Model:
    """A saved model (``model.keras``) as its float32 copy (float32_copy), without its
    optimizer. Importing this module registers the custom layers; the losses are imported here
    for models saved with theirs."""
    import egcalib.train.losses  # noqa: F401 - registers the custom losses

    return float32_copy(keras.models.load_model(path, compile=False))
