"""The notebook's models and the variants the chapters use."""

import keras
import numpy as np
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


def test_max_norm_constrains_every_kernel_and_input_noise_follows_flatten():
    model = build_mlp(max_norm=2.0, input_noise=0.3, seed=4)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 3
    assert all(isinstance(layer.kernel_constraint, keras.constraints.MaxNorm) for layer in dense)
    assert all(layer.kernel_constraint.max_value == 2.0 and layer.kernel_constraint.axis == 0 for layer in dense)
    assert layer_kinds(model) == ["Flatten", "GaussianNoise", "Dense", "Dense", "Dense"]
    assert model.layers[1].stddev == 0.3
    assert model.count_params() == 266_610  # neither adds parameters
    assert all(layer.kernel_constraint is None for layer in build_mlp().layers if isinstance(layer, keras.layers.Dense))
    assert "GaussianNoise" not in layer_kinds(build_mlp(input_noise=0.0))


def test_input_noise_is_seeded_by_the_models_seed():
    ones = np.ones((2, 28, 28), np.float32)

    def noise(seed):
        return keras.ops.convert_to_numpy(build_mlp(input_noise=0.5, seed=seed).layers[1](ones.reshape(2, -1),
                                                                                          training=True))

    first = noise(3)
    assert np.array_equal(first, noise(3)) and not np.array_equal(first, noise(4))
    assert 0.3 < np.std(first - 1.0) < 0.7  # standard deviation 0.5 over 1,568 draws


@pytest.mark.parametrize(
    "kwargs, message",
    [({"batch_norm": "input"}, "batch_norm must be one of"), ({"dropout": 1.0}, "dropout"), ({"l2": -1}, "non-negative"),
     ({"max_norm": 0.0}, "max_norm is a positive radius"), ({"input_noise": -0.1}, "input_noise is a non-negative")],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_mlp(**kwargs)


def test_no_study_configuration_combines_batch_norm_and_dropout():
    """The dropout chapter says so: build_mlp puts a Dropout after each hidden layer's batch norm,
    against the chapter's advice (after the last one only), and no study run asks for both."""
    from snippets.studies.configs import REGULARIZER_STUDY, STUDIES, sweep_study

    configs = [c for study in STUDIES.values() for c in study]
    configs += [c for best in REGULARIZER_STUDY for c in sweep_study(best)]  # whichever technique is best
    assert not [c.label for c in configs if c.model.get("batch_norm", "none") != "none" and c.model.get("dropout")]
