"""The augmentation page's claims, asserted with fixed seeds."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import augmentation_beyond_shifts as a


def test_cutout_blanks_one_square_in_training_only():
    images = np.ones((64, 28, 28), dtype="float32")
    layer = a.Cutout(size=10, seed=0)
    cut = keras.ops.convert_to_numpy(layer(images, training=True))
    blanked = (cut == 0).sum(axis=(1, 2))
    assert blanked.max() == 100  # a whole 10 x 10 square when it lies inside the image
    assert blanked.min() >= 25 and (blanked < 100).any()  # at the border, part of it is outside
    for image in cut:  # the blanked pixels form one rectangle
        rows, cols = np.nonzero(image == 0)
        assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == len(rows)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)


def test_cutout_keeps_labels_and_mixup_mixes_them():
    examples = a.labels_after_augmentation(n=4, seed=0)
    original_images, original_labels = examples["original"]
    assert np.array_equal(examples["cutout"][1], original_labels)
    assert not np.array_equal(examples["cutout"][0], original_images)
    mixed = examples["mixup"][1]
    assert np.allclose(mixed.sum(axis=1), 1.0)
    assert ((mixed > 0.005).sum(axis=1) <= 2).all()  # at most two classes per label
    assert ((mixed > 0.005).sum(axis=1) == 2).any()  # and some labels are soft
    assert set(np.nonzero(mixed > 0.005)[1]) <= set(np.nonzero(original_labels)[1])
    assert a.describe(np.eye(10)[7]) == "1.00 x '7'"
    assert a.describe(0.25 * np.eye(10)[3] + 0.75 * np.eye(10)[7]) == "0.25 x '3' + 0.75 x '7'"


def test_mixup_pipeline_mixes_images_with_the_same_weights_as_labels():
    # Images that are constant, with the value class / 10: a mixed image's value must be
    # the label-weighted mean of the classes, lam * a / 10 + (1 - lam) * b / 10.
    y = np.arange(64) % 10
    x = np.repeat((y / 10).astype("float32"), 28 * 28).reshape(64, 28, 28)
    one_hot = keras.utils.to_categorical(y, 10)
    images, labels = next(iter(a.mixup_batches(x, one_hot, seed=0, alpha=1.0, batch_size=64)))
    images, labels = images.numpy(), labels.numpy()
    assert images.shape == (64, 28, 28) and labels.shape == (64, 10)
    assert np.allclose(images[:, 0, 0], labels @ np.arange(10) / 10, atol=1e-5)
    assert np.allclose(images, images[:, :1, :1], atol=1e-5)  # still constant: mixed pixel by pixel
    assert np.allclose(labels.sum(axis=1), 1.0)
    assert (labels.max(axis=1) < 0.99).mean() > 0.5  # alpha = 1: most labels are mixes
    again = next(iter(a.mixup_batches(x, one_hot, seed=0, alpha=1.0, batch_size=64)))[1].numpy()
    assert np.allclose(again, labels)  # the same seed, the same mixes


def test_the_figure_shows_every_image_with_its_label():
    examples = a.labels_after_augmentation(n=4, seed=0)
    fig = a.plot_augmentations(examples)
    axes = fig.axes
    assert len(axes) == 12
    assert [ax.get_ylabel() for ax in axes[::4]] == ["original", "cutout", "mixup"]
    assert axes[0].get_title() == a.describe(examples["original"][1][0])
    assert np.array_equal(axes[4].images[0].get_array(), examples["cutout"][0][0])


def test_cutout_makes_the_network_robust_to_occlusion():
    table = a.compare_augmentations(seed=0)
    assert list(table.index) == ["none", "cutout", "mixup"]
    assert (table["validation accuracy"] > 0.9).all()
    gain = table.loc["cutout", "occluded accuracy"] - table.loc["none", "occluded accuracy"]
    assert gain > 0.03
    drop = table["validation accuracy"] - table["occluded accuracy"]
    assert drop["cutout"] < drop["none"] / 2


def test_augmentation_lowers_training_fit_and_mixup_lowers_confidence():
    table = a.compare_augmentations(seed=0)
    assert table.loc["none", "train accuracy"] > 0.99  # the plain network fits its images
    assert table.loc["cutout", "train accuracy"] < table.loc["none", "train accuracy"]
    assert table.loc["mixup", "train accuracy"] < table.loc["none", "train accuracy"]
    # clean accuracy: all three within a point of one another
    assert table["validation accuracy"].max() - table["validation accuracy"].min() < 0.01
    overconfidence = table["mean confidence"] - table["validation accuracy"]
    assert overconfidence["none"] > 0  # plain: overconfident
    assert overconfidence["mixup"] < 0  # mixup: underconfident
    assert table.loc["mixup", "mean confidence"] < table.loc["none", "mean confidence"] - 0.04


def test_test_time_augmentation_changes_little():
    table = a.tta_comparison(seed=0)
    assert list(table.columns) == ["one pass", "mean of 5 views", "predictions changed"]
    assert (table["predictions changed"] < 0.03 * a.N_VALIDATION).all()
    assert (table["predictions changed"] > 0).all()
    assert ((table["mean of 5 views"] - table["one pass"]).abs() < 0.01).all()


def test_settings_and_model_the_page_states():
    assert (a.N_TRAIN, a.N_VALIDATION, a.EPOCHS, a.BATCH_SIZE) == (2000, 1000, 10, 32)
    model = a.small_cnn()
    assert model.count_params() == (9 * 16 + 16) + (9 * 16 * 32 + 32) + (5 * 5 * 32 * 10 + 10)
    assert isinstance(a.small_cnn(cutout=True).layers[0], a.Cutout)
    _, history = a.train_cnn("mixup")
    assert len(history["val_categorical_accuracy"]) == a.EPOCHS
