"""Offline data sets: nothing here downloads.

- MNIST-1D (Greydanus 2020) is generated procedurally by the `mnist1d` package: 4000 training
  and 1000 test sequences of 40 features, 10 classes. Made for many cheap runs.
- scikit-learn's bundled `load_digits` (8x8 digits, 1797 samples), when scikit-learn is installed.
"""

from __future__ import annotations

import functools
import random

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


def load_mnist1d(seed: int = 42) -> tuple[Split, Split]:
    """Generate MNIST-1D offline.

    Args:
        seed: the generator's seed; 42 gives the data set of the MNIST-1D paper.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 features of shape `(n, 40)` and int64
        labels in 0..9, 4000 training and 1000 test samples. The arrays are fresh copies.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an int, got {seed!r}")
    (x, y), (x_test, y_test) = _generate_mnist1d(int(seed))
    return (x.copy(), y.copy()), (x_test.copy(), y_test.copy())


@functools.lru_cache(maxsize=4)
def _generate_mnist1d(seed: int) -> tuple[Split, Split]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    # mnist1d seeds the global NumPy and `random` generators; leave the user's streams untouched.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return (
        (data["x"].astype(np.float32), data["y"].astype(np.int64)),
        (data["x_test"].astype(np.float32), data["y_test"].astype(np.int64)),
    )


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """scikit-learn's bundled 8x8 digits, flattened to 64 features scaled to [0, 1].

    Requires scikit-learn (`pip install keras-effort[sklearn]`).

    Args:
        test_fraction: share of the 1797 samples held out for testing, in (0, 1).
        seed: seed of the shuffle before the split.

    Returns:
        `((x_train, y_train), (x_test, y_test))` as float32 features and int64 labels.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError(
            "load_digits needs scikit-learn: pip install 'keras-effort[sklearn]'"
        ) from error
    digits = sklearn_load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
