"""Offline data sets: nothing here downloads.

- MNIST-1D (Greydanus 2020) is generated procedurally by the `mnist1d` package: 4000 training
  and 1000 test sequences of 40 features, 10 classes. Made for many cheap runs.
- scikit-learn's bundled `load_digits` (8x8 digits, 1797 samples), when scikit-learn is installed,
  flat (`load_digits`) or as images (`load_digits_images`).
- Friedman's first regression problem (Friedman 1991), generated from its formula.
- Characters of the Python standard library's own source files, for language models.
"""

from __future__ import annotations

import functools
import random
import sysconfig
from pathlib import Path

import numpy as np

from keras_effort.arguments import integer, non_negative_int, positive_int

Split = tuple[np.ndarray, np.ndarray]


def load_mnist1d(seed: int = 42) -> tuple[Split, Split]:
    """Generate MNIST-1D offline.

    Args:
        seed: the generator's seed; 42 gives the data set of the MNIST-1D paper.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 features of shape `(n, 40)` and int64
        labels in 0..9, 4000 training and 1000 test samples. The arrays are fresh copies.
    """
    (x, y), (x_test, y_test) = _generate_mnist1d(integer("seed", seed))
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
    x, y = _sklearn_digits()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def load_digits_images(validation: int = 397, seed: int = 0) -> tuple[Split, Split]:
    """scikit-learn's 8x8 digits as images of shape `(8, 8, 1)` scaled to [0, 1].

    Requires scikit-learn (`pip install keras-effort[sklearn]`).

    Args:
        validation: how many digits to hold out: the last `validation` of a seeded
            permutation, in [1, 1796].
        seed: seed of the permutation.

    Returns:
        `((x_train, y_train), (x_val, y_val))` as float32 images and int64 labels.

    Raises:
        ValueError: for a `validation` count outside [1, 1796].
    """
    x, y = _sklearn_digits()
    validation = integer("validation", validation, 1, len(y) - 1)
    order = np.random.default_rng(seed).permutation(len(y))
    train, held_out = order[:-validation], order[-validation:]
    images = x.reshape(-1, 8, 8, 1)
    return (images[train], y[train]), (images[held_out], y[held_out])


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as 64 float32 features in [0, 1] and int64 labels."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError(
            "the digits need scikit-learn: pip install 'keras-effort[sklearn]'"
        ) from error
    digits = sklearn_load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def load_friedman1(
    train: int = 2000, validation: int = 500, noise: float = 1.0, seed: int = 0
) -> tuple[Split, Split]:
    """Friedman's first regression problem: 10 uniform features, 5 of them informative.

    `y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise * N(0, 1)`, the function of
    scikit-learn's `make_friedman1`, drawn here with NumPy: the best possible mean squared
    error is `noise ** 2`.

    Args:
        train: training samples (>= 1).
        validation: validation samples (>= 1).
        noise: standard deviation of the Gaussian noise (>= 0).
        seed: seed of the draw.

    Returns:
        `((x_train, y_train), (x_val, y_val))`: float32 features `(n, 10)` and targets `(n, 1)`.

    Raises:
        ValueError: for a count below 1 or a negative noise.
    """
    for name, count in (("train", train), ("validation", validation)):
        positive_int(name, count)
    if not noise >= 0.0:
        raise ValueError(f"`noise` must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(train + validation, 10))
    y = (
        10.0 * np.sin(np.pi * x[:, 0] * x[:, 1])
        + 20.0 * (x[:, 2] - 0.5) ** 2
        + 10.0 * x[:, 3]
        + 5.0 * x[:, 4]
        + noise * rng.standard_normal(train + validation)
    )
    x, y = x.astype(np.float32), y.astype(np.float32)[:, None]
    return (x[:train], y[:train]), (x[train:], y[train:])


# Files present in the standard library of every supported Python (3.10 to 3.13), read in this
# order; their text differs a little between Python versions, and so do the results on it.
STDLIB_FILES = (
    "argparse.py",
    "calendar.py",
    "dataclasses.py",
    "difflib.py",
    "fractions.py",
    "functools.py",
    "heapq.py",
    "statistics.py",
    "textwrap.py",
)
# Newline and the printable ASCII characters; id 96 stands for every other character.
TEXT_ALPHABET = "\n" + "".join(chr(code) for code in range(32, 127))


def load_stdlib_text(
    characters: int = 200_000,
    context: int = 64,
    validation_fraction: float = 0.1,
    offset: int = 0,
) -> tuple[Split, Split]:
    """Character windows of the standard library's own source, for next-character prediction.

    The files of `STDLIB_FILES` (under `sysconfig.get_paths()["stdlib"]`), concatenated, from
    character `offset` on and cut to `characters`, are encoded with `TEXT_ALPHABET` (one more
    id for any other character) and cut into non-overlapping windows of `context + 1`
    characters, of which every `round(1 / validation_fraction)`-th is held out (so that
    validation text comes from every file). A window's inputs are its first `context` ids,
    its labels its last `context`.

    Args:
        characters: how much of the text to use.
        context: the window length (>= 1).
        validation_fraction: about the share of windows held out, in (0, 1).
        offset: characters skipped at the start (>= 0): another offset cuts the windows at
            other places.

    Returns:
        `((x_train, y_train), (x_val, y_val))`: int32 arrays of shape `(windows, context)`.

    Raises:
        ValueError: for a bad argument, or a standard library too short for `characters`.
    """
    positive_int("context", context)
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}")
    integer("characters", characters)
    non_negative_int("offset", offset)
    ids = _stdlib_ids(offset + characters)[offset:]
    count = len(ids) // (context + 1)
    windows = ids[: count * (context + 1)].reshape(count, context + 1)
    # Every k-th window is held out, so that validation text comes from every file.
    held_out = np.zeros(count, dtype=bool)
    held_out[:: max(1, round(1.0 / validation_fraction))] = True
    if held_out.sum() < 1 or (~held_out).sum() < 1:
        raise ValueError(
            f"`characters` = {characters} leaves no window of {context + 1} characters in a "
            "split; use more characters or a shorter context"
        )
    train, validation = windows[~held_out], windows[held_out]
    return (train[:, :-1].copy(), train[:, 1:].copy()), (
        validation[:, :-1].copy(),
        validation[:, 1:].copy(),
    )


@functools.lru_cache(maxsize=2)
def _stdlib_ids(characters: int) -> np.ndarray:
    root = Path(sysconfig.get_paths()["stdlib"])
    text = "".join((root / name).read_text(encoding="utf-8") for name in STDLIB_FILES)
    if len(text) < characters:
        raise ValueError(
            f"`characters` = {characters} is more than the {len(text)} characters of the "
            f"standard library files {', '.join(STDLIB_FILES)} under {root}"
        )
    lookup = {character: code for code, character in enumerate(TEXT_ALPHABET)}
    unknown = len(TEXT_ALPHABET)
    return np.array([lookup.get(c, unknown) for c in text[:characters]], dtype=np.int32)
