"""The source notebook's MLP (784-300-100-10) and its regularized variants.

One builder serves every variant, so the plain model, the notebook's batch-norm
model and the chapters' regularized models differ only in their arguments.
"""

from __future__ import annotations

import itertools

import keras

HIDDEN_UNITS = (300, 100)
#: Where batch normalization goes: nowhere, as in the notebook (on the flattened
#: input and after each hidden layer), or after the hidden layers only.
BATCH_NORM_PLACEMENTS = ("none", "notebook", "hidden")


def build_mlp(
    *,
    batch_norm: str = "none",
    l1: float = 0.0,
    l2: float = 0.0,
    dropout: float = 0.0,
    max_norm: float | None = None,
    input_noise: float = 0.0,
    augmentation: keras.layers.Layer | None = None,
    hidden_units: tuple[int, ...] = HIDDEN_UNITS,
    name: str = "mlp",
    seed: int | None = None,
) -> keras.Sequential:
    """Build the notebook's MLP: Flatten, Dense 300 relu, Dense 100 relu, Dense 10 softmax.

    ``batch_norm="notebook"`` reproduces the notebook's second model exactly: batch
    normalization on the flattened input and after each hidden layer's activation.
    ``l1``/``l2`` add Keras weight penalties to every Dense kernel, ``dropout`` adds a
    Dropout layer after each hidden layer, and ``augmentation`` is a layer applied to
    the images first (active in training only, like Keras' preprocessing layers).
    ``max_norm=c`` puts ``MaxNorm(c)`` on every Dense kernel: the optimizer projects each
    unit's incoming weights back onto the ball of radius ``c`` after every update
    (Srivastava et al., 2014, section 5.1). ``input_noise=sigma`` adds Gaussian noise of
    standard deviation ``sigma`` to the flattened pixels while training.

    With an integer ``seed`` every random part of the model (each kernel's initial
    values, each dropout layer's masks) gets a seed of its own derived from it, so
    the model does not depend on Python's process-wide random state, which other
    threads may draw from (a Dask worker's event loop does). Without one, Keras
    draws those seeds from that state, as ``keras.utils.set_random_seed`` left it.
    """
    if batch_norm not in BATCH_NORM_PLACEMENTS:
        raise ValueError(f"batch_norm must be one of {BATCH_NORM_PLACEMENTS}, got {batch_norm!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a rate in [0, 1), got {dropout}")
    if l1 < 0 or l2 < 0:
        raise ValueError(f"penalties must be non-negative, got l1={l1}, l2={l2}")
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm is a positive radius or None, got {max_norm}")
    if not input_noise >= 0:
        raise ValueError(f"input_noise is a non-negative standard deviation, got {input_noise}")

    penalty = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    constraint = keras.constraints.MaxNorm(max_norm) if max_norm is not None else None  # axis=0: per unit
    layer_seeds = itertools.count(1000 * seed) if seed is not None else itertools.repeat(None)

    def dense(units, activation):
        initializer = keras.initializers.GlorotUniform(seed=next(layer_seeds))
        return keras.layers.Dense(units, activation=activation, kernel_regularizer=penalty,
                                  kernel_constraint=constraint, kernel_initializer=initializer)

    layers: list[keras.layers.Layer] = [keras.Input(shape=(28, 28))]
    if augmentation is not None:
        layers += [keras.layers.Reshape((28, 28, 1)), augmentation]
    layers.append(keras.layers.Flatten())
    if input_noise:
        layers.append(keras.layers.GaussianNoise(input_noise, seed=next(layer_seeds)))
    if batch_norm == "notebook":
        layers.append(keras.layers.BatchNormalization())
    for units in hidden_units:
        layers.append(dense(units, "relu"))
        if batch_norm != "none":
            layers.append(keras.layers.BatchNormalization())
        if dropout:
            layers.append(keras.layers.Dropout(dropout, seed=next(layer_seeds)))
    layers.append(dense(10, "softmax"))
    return keras.Sequential(layers, name=name)


def notebook_model(batch_norm: bool = False) -> keras.Sequential:
    """The notebook's two models: ``make_model()`` and ``model2``."""
    if batch_norm:
        return build_mlp(batch_norm="notebook", name="mlp_batchnorm")
    return build_mlp(name="mlp")
