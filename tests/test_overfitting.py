"""The overfitting chapter's augmentation claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import overfitting as a
from snippets.data import notebook_subsets


@pytest.fixture(scope="module")
def digits():
    return a.example_digits((2, 3, 4, 5, 7))


def test_example_digits_are_the_requested_digits(digits):
    _, (x_val, y_val), _ = notebook_subsets()
    assert digits.shape == (5, 28, 28) and digits.dtype == np.float32
    first_two = np.flatnonzero(y_val == 2)[0]
    assert np.array_equal(digits[0], x_val[first_two])


def test_augmentations_keep_shape_and_change_images_in_training(digits):
    batch = digits[..., None]
    out = np.asarray(a.label_preserving_augmentation(0)(batch, training=True))
    assert out.shape == batch.shape
    assert np.all(np.abs(out - batch).max(axis=(1, 2, 3)) > 0.1)  # every image moved
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6  # still images in [0, 1]


def test_augmentations_are_identity_at_inference(digits):
    batch = digits[..., None]
    for layer in (a.label_preserving_augmentation(0), a.horizontal_flip(0)):
        assert np.array_equal(np.asarray(layer(batch, training=False)), batch)


def test_each_augmentation_draws_new_transformations(digits):
    first = a.augmented_versions(digits, n_versions=3, seed=0)
    other = a.augmented_versions(digits, n_versions=3, seed=1)
    assert first.shape == (3, 5, 28, 28)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # each call draws new transformations


def _angle_of_a_bar(image):
    """The angle in degrees of the principal axis of an image's ink (a bar's direction)."""
    rows, cols = np.nonzero(image > 0.5)
    cov = np.cov(np.stack([cols, -rows]).astype(float))
    values, vectors = np.linalg.eigh(cov)
    dx, dy = vectors[:, -1]
    return np.degrees(np.arctan(dy / dx))


def test_rotation_factor_turns_images_by_up_to_the_angle_the_page_prints():
    bar = np.zeros((28, 28), dtype=np.float32)
    bar[13:15, 3:25] = 1.0  # a horizontal bar through the centre
    batch = np.repeat(bar[None, ..., None], 300, axis=0)
    rotate = keras.layers.RandomRotation(a.ROTATION, fill_mode="constant", seed=0)
    angles = np.abs([_angle_of_a_bar(image[..., 0]) for image in np.asarray(rotate(batch, training=True))])
    limit = a.ROTATION * 360
    assert limit == pytest.approx(14.4)  # the factor is a fraction of a full turn, not degrees
    assert angles.max() <= limit + 1.0  # never more than the stated angle (1 degree of pixel rounding)
    assert angles.max() >= limit - 2.0  # and the whole range is used, not just "a few degrees"


def test_horizontal_flip_changes_digits(digits):
    mirrored = digits[:, :, ::-1]
    # A mirrored digit is a different image (these digits are not left-right symmetric) ...
    assert np.all(np.abs(mirrored - digits).sum(axis=(1, 2)) > 0.25 * digits.sum(axis=(1, 2)))
    # ... and Keras' RandomFlip produces exactly such mirror images, for about half the batch.
    batch = np.repeat(digits[:1, ..., None], 200, axis=0)
    out = np.asarray(a.horizontal_flip(0)(batch, training=True))
    flipped = np.array([np.array_equal(o, batch[0, :, ::-1]) for o in out])
    unchanged = np.array([np.array_equal(o, batch[0]) for o in out])
    assert np.all(flipped | unchanged)
    assert 60 <= flipped.sum() <= 140


def test_label_preserving_augmentation_narrows_the_gap_and_flips_hurt():
    study = a.augmentation_study(seed=0)
    none, aug, flip = (study.loc[k] for k in ("none", "rotate/shift/zoom", "horizontal flip"))
    assert none["train accuracy"] >= 0.99  # 500 images memorized
    assert aug["gap"] < none["gap"] - 0.04  # a clearly smaller train-validation gap
    assert aug["validation accuracy"] > none["validation accuracy"] + 0.015
    assert flip["validation accuracy"] < none["validation accuracy"] - 0.015  # flips hurt
    assert aug["train accuracy"] < 0.99  # the harder task is not memorized in the same epochs
    assert set(study["SGD steps"]) == {a.EPOCHS * 16}  # one schedule: 40 epochs of 16 batches of 500 images


def test_more_data_raises_validation_accuracy():
    curve = a.learning_curve(seed=0)
    assert list(curve.index) == [250, 500, 1000, 2000, 4000]
    # About the same number of SGD steps for every size (the optimizer's own count).
    assert curve["SGD steps"].between(0.9 * 320, 1.2 * 320).all()
    assert list(curve["epochs"]) == [40, 20, 10, 5, 3]
    assert np.all(np.diff(curve["validation accuracy"]) > 0)
    assert np.all(np.diff(curve["gap"]) < 0)
    assert curve["gap"].iloc[-1] < curve["gap"].iloc[0] / 2
    # Same number of steps: the smallest set is memorized, the largest is seen only a few times.
    assert curve.loc[250, "train accuracy"] == 1.0 and curve.loc[4000, "train accuracy"] < 0.99
    # 8x more data beats augmenting the 500 images.
    study = a.augmentation_study(seed=0)
    assert curve.loc[4000, "validation accuracy"] > study.loc["rotate/shift/zoom", "validation accuracy"]


def test_augmentation_figure_shows_originals_new_versions_and_mirrors(digits):
    fig = a.plot_augmentations()
    grid = np.array(fig.axes).reshape(5, 7)  # one row per digit: original, 5 versions, flipped
    titles = [ax.get_title() for ax in grid[0]]
    assert titles == ["original", *(f"augmented {i}" for i in range(1, 6)), "flipped"]
    shown = np.array([[ax.images[0].get_array() for ax in row] for row in grid])
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert shown.shape == (5, 7, 28, 28)
    assert np.array_equal(shown[:, 0], digits)  # the originals, in the order asked for
    assert np.array_equal(shown[:, -1], digits[:, :, ::-1])  # their mirror images
    for column in range(1, 6):  # each augmented column: every digit moved, still an image in [0, 1]
        assert np.all(np.abs(shown[:, column] - digits).max(axis=(1, 2)) > 0.1)
        assert shown[:, column].min() >= -1e-6 and shown[:, column].max() <= 1 + 1e-6
    assert not np.array_equal(shown[:, 1], shown[:, 2])  # new transformations in every column
    assert all(ax.images[0].get_clim() == (0, 1) for ax in fig.axes)  # one grey scale for all


def test_learning_curve_figure_plots_the_curve():
    curve = a.learning_curve(seed=0)
    fig = a.plot_learning_curve(curve)
    (ax,) = fig.axes
    train, validation = ax.get_lines()
    for line, column in ((train, "train accuracy"), (validation, "validation accuracy")):
        assert list(line.get_xdata()) == list(curve.index)
        assert np.array_equal(line.get_ydata(), curve[column].to_numpy())
    assert ax.get_xscale() == "log"
    (gap,) = ax.collections  # the shaded generalization gap between the two curves
    assert gap.get_label() == "generalization gap"
    # The gap band spans exactly from validation up to training accuracy.
    vertices = gap.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(curve["validation accuracy"].min())
    assert vertices[:, 1].max() == pytest.approx(curve["train accuracy"].max())
