"""The matrix-product work of the notebook's MLP: the FLOP model behind the performance page's bound.

The speed benchmark (benchmarks/train_speed.py) times these products on the CPU at
hand; the time they take alone is the bound each way of training is compared with.
"""

from __future__ import annotations

FLOP_FORMULA = (
    "per training example, the sum over the Dense layers of 2·in·out (forward) + 2·in·out (weight gradient) "
    "+ 2·in·out (input gradient, every layer but the first); per validation example, 2·in·out per layer "
    "(forward only). Biases, activations, batch norm, the loss and the SGD update grow with the number of "
    "units, not with in·out, and are not counted."
)


def dense_shapes() -> list[list[int]]:
    """[fan_in, fan_out] of every Dense kernel of the notebook's MLP (imports Keras: call it in a worker)."""
    import keras

    from snippets.models import notebook_model

    model = notebook_model()
    return [list(layer.kernel.shape) for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def epoch_flops(train_examples: int, validation_examples: int, shapes: list[list[int]]) -> dict:
    """Floating-point operations of one epoch's matrix products (see FLOP_FORMULA)."""
    forward = sum(2 * i * o for i, o in shapes)
    weight_gradients = forward
    input_gradients = sum(2 * i * o for i, o in shapes[1:])
    per_train = forward + weight_gradients + input_gradients
    return {
        "per_training_example": per_train,
        "per_validation_example": forward,
        "training": per_train * train_examples,
        "validation": forward * validation_examples,
        "total": per_train * train_examples + forward * validation_examples,
    }


def training_step_products(shapes: list[list[int]], batch_size: int) -> list[tuple[str, int, int, int]]:
    """The (role, m, k, n) matrix products of one training step on a batch, as FLOP_FORMULA counts them."""
    products = []
    for index, (i, o) in enumerate(shapes):
        products.append(("forward", batch_size, i, o))
        products.append(("weight gradient", i, batch_size, o))
        if index > 0:  # the first layer's input is the data: no gradient flows into it
            products.append(("input gradient", batch_size, o, i))
    return products
