"""The targets a training step fits, beyond the labels as given: smoothed labels, mixup's draws.

``snippets.training`` uses both: ``compile_like_notebook`` sets up the smoothed loss, and
``train`` takes mixup's random choices from ``mixup_draws``, made in NumPy from the seed so
that the compiled training steps draw no random numbers.
"""

from __future__ import annotations

import keras
import numpy as np


def mixup_draws(n: int, seed: int, epochs: int, batch_size: int, alpha: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Mixup's random choices for each epoch of ``train``: per batch one λ ~ Beta(α, α), and per
    example the position of its partner in ``epoch_orders``' order, a shuffle within its batch
    (as in Zhang et al.'s reference code). From a generator of its own, so the orders stay
    those of ``epoch_orders``; the same seed gives the same draws."""
    if not alpha > 0:
        raise ValueError(f"mixup's alpha must be positive, got {alpha}")
    rng = np.random.default_rng([seed, 1])
    batches = -(-n // batch_size)
    batch_of = np.arange(n) // batch_size
    draws = []
    for _ in range(epochs):
        lambdas = rng.beta(alpha, alpha, size=batches).astype(np.float32)
        partners = np.argsort(batch_of + rng.random(n), kind="stable")  # a permutation within each batch
        draws.append((lambdas, partners))
    return draws


class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy against smoothed targets, 1 - s on the label plus s / classes on every
    class, for integer labels: ``CategoricalCrossentropy(label_smoothing=s)`` on their one-hot
    form. Keras 3.15's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``."""

    def __init__(self, label_smoothing: float, name: str = "smoothed_sparse_crossentropy", **kwargs):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing is a share in [0, 1], got {label_smoothing}")
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), keras.ops.shape(y_pred)[:-1])
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
