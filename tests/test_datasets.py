"""Data loaders: embedded digits and Fashion-MNIST from IDX files."""
import gzip
import os
import struct

import numpy as np
import pytest

from robustsk.datasets import FASHION_MNIST_DIRS, load_digits_images, load_fashion_mnist


def test_digits_images():
    bunch = load_digits_images()
    X, y = bunch.data, bunch.target
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    X2, y2 = load_digits_images(return_X_y=True, n_class=2)
    assert set(np.unique(y2)) == {0, 1}


def _write_idx(path, arr, gz=True):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_user_folder(tmp_path, gz):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(7, 28, 28))
    labels = rng.randint(0, 10, size=7)
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", images, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", labels, gz)
    X, y = load_fashion_mnist(path=str(tmp_path), subset="test", return_X_y=True)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(y, labels)
    assert len(load_fashion_mnist(path=str(tmp_path), subset="test", n_samples=3).data) == 3


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(path=str(tmp_path))
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(subset="validation")


def test_fashion_mnist_truncated_file(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "rb") as f:
        data = f.read()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(data[:-10])
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(2))
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist(path=str(tmp_path))


def test_fashion_mnist_damaged_files_named(tmp_path):
    """Swapped, empty or not-gzip files: a ValueError naming the file and the fix."""
    images = np.zeros((2, 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", images)  # images where labels go
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte.gz holds a 3-dimensional array"):
        load_fashion_mnist(path=str(tmp_path))
    for content in (b"", b"junk"):
        (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(content)
        with pytest.raises(ValueError, match=r"labels-idx1-ubyte.gz .*--reinstall"):
            load_fashion_mnist(path=str(tmp_path))


@pytest.mark.parametrize("n_samples", [-5, 0, 2.5, "10", True])
def test_fashion_mnist_bad_n_samples_before_reading(tmp_path, n_samples):
    with pytest.raises(ValueError, match="n_samples=.*expected None"):
        load_fashion_mnist(path=str(tmp_path), n_samples=n_samples)  # no files there: checked first


@pytest.mark.skipif(not os.path.exists(FASHION_MNIST_DIRS[0]),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_debian_package():
    bunch = load_fashion_mnist(subset="test", n_samples=100)
    assert bunch.data.shape == (100, 1, 28, 28)
    assert 0.0 <= bunch.data.min() and bunch.data.max() <= 1.0
    assert len(bunch.target_names) == 10
