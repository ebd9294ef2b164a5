"""The notebook's models and the variants the chapters use."""

import keras
import pytest

from snippets.models import build_mlp, notebook_model


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_plain_mlp_is_the_notebooks():
    model = notebook_model()
    assert model.count_params() == 266_610
    assert layer_kinds(model) == ["Flatten", "Dense", "Dense", "Dense"]
    assert [layer.units for layer in model.layers[1:]] == [300, 100, 10]
    assert model.input_shape == (None, 28, 28)


def test_batch_norm_model_is_the_notebooks():
    model = notebook_model(batch_norm=True)
    kinds = layer_kinds(model)
    assert kinds == ["Flatten", "BatchNormalization", "Dense", "BatchNormalization", "Dense", "BatchNormalization", "Dense"]
    # 266,610 + 4 parameters per normalized feature (gamma, beta, moving mean, moving variance)
    assert model.count_params() == 266_610 + 4 * (784 + 300 + 100)


def test_batch_norm_after_hidden_layers_only():
    kinds = layer_kinds(build_mlp(batch_norm="hidden"))
    assert kinds == ["Flatten", "Dense", "BatchNormalization", "Dense", "BatchNormalization", "Dense"]


def test_penalties_and_dropout():
    model = build_mlp(l1=1e-4, l2=1e-3, dropout=0.5)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert all(layer.kernel_regularizer is not None for layer in dense)
    assert layer_kinds(model).count("Dropout") == 2
    assert model.count_params() == 266_610  # regularizers add no parameters


@pytest.mark.parametrize(
    "kwargs, message",
    [({"batch_norm": "input"}, "batch_norm must be one of"), ({"dropout": 1.0}, "dropout"), ({"l2": -1}, "non-negative")],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_mlp(**kwargs)
