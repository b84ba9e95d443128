"""The effort suite's workloads: each builds and trains on every backend; data and targets."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_effort import datasets
from keras_effort.effort import Target
from keras_effort.workloads import WORKLOADS, load_targets, targets_provenance

NAMES = list(WORKLOADS)


def test_the_suite_has_every_family_and_both_directions():
    assert len(WORKLOADS) >= 7
    assert len({w.family for w in WORKLOADS.values()}) == len(WORKLOADS)
    assert {w.target.direction for w in WORKLOADS.values()} == {"up", "down"}
    assert WORKLOADS["stdlib_transformer"].target.metric == "val_loss"
    assert WORKLOADS["friedman_mlp"].target.direction == "down"


def test_targets_load_for_every_workload():
    targets = load_targets()
    assert set(targets) == set(WORKLOADS)
    for name, target in targets.items():
        assert isinstance(target, Target) and target.direction is not None
        assert WORKLOADS[name].target == target
    assert "note" in targets_provenance()


@pytest.mark.parametrize("name", NAMES)
def test_each_workload_builds_and_takes_a_step(name):
    workload = WORKLOADS[name]
    (x, y), (x_val, y_val) = workload.data()
    assert len(x) == len(y) and len(x_val) == len(y_val) and len(x_val) > 0
    keras.utils.set_random_seed(0)
    model = workload.build_model()
    workload.compile(model, keras.optimizers.Adam(1e-3))
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    batch = slice(0, workload.batch_size)
    logs = model.train_on_batch(x[batch], y[batch], return_dict=True)
    assert np.isfinite(logs["loss"])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1
    changed = [
        not np.array_equal(keras.ops.convert_to_numpy(v), b)
        for v, b in zip(model.trainable_variables, before, strict=True)
    ]
    assert any(changed)
    # The target's metric is one `evaluate` reports, under its name without `val_`.
    results = model.evaluate(x_val[:64], y_val[:64], verbose=0, return_dict=True)
    assert workload.target.metric.removeprefix("val_") in results
    # The budget is whole epochs and whole checks, so every check lands where it should.
    assert workload.budget % workload.epoch_steps == 0
    assert workload.epoch_steps % workload.check_every == 0


def test_variants_change_what_they_say():
    base = WORKLOADS["mnist1d_mlp"]
    narrow = base.variant(width=20)
    assert narrow.name == "mnist1d_mlp[width=20]" and narrow.target == base.target
    keras.utils.set_random_seed(0)
    assert narrow.build_model().count_params() < base.build_model().count_params()
    other = WORKLOADS["digits_resnet"].variant(data_seed=1)
    (x0, _), _ = WORKLOADS["digits_resnet"].data()
    (x1, _), _ = other.data()
    assert not np.array_equal(x0, x1)
    assert base.variant(width=base.width) is base
    with pytest.raises(ValueError, match="width"):
        base.variant(width=0)


def test_digits_images_hold_out_the_last_digits_of_the_permutation():
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(3).permutation(len(digits.target))
    (x, _y), (x_val, y_val) = datasets.load_digits_images(validation=397, seed=3)
    assert x.shape == (1400, 8, 8, 1) and x_val.shape == (397, 8, 8, 1)
    np.testing.assert_array_equal(y_val, digits.target[order[-397:]])
    np.testing.assert_allclose(x_val[0, :, :, 0], digits.images[order[-397]] / 16.0)
    with pytest.raises(ValueError, match="validation"):
        datasets.load_digits_images(validation=0)


def test_friedman1_follows_its_formula():
    (x, y), (_x_val, y_val) = datasets.load_friedman1(train=50, validation=10, noise=0.0)
    assert x.shape == (50, 10) and y_val.shape == (10, 1)
    formula = (
        10 * np.sin(np.pi * x[:, 0] * x[:, 1])
        + 20 * (x[:, 2] - 0.5) ** 2
        + 10 * x[:, 3]
        + 5 * x[:, 4]
    )
    np.testing.assert_allclose(y[:, 0], formula, rtol=1e-5)
    with pytest.raises(ValueError, match="noise"):
        datasets.load_friedman1(noise=-1.0)


def test_stdlib_text_windows_are_the_source_text():
    (x, y), (x_val, _y_val) = datasets.load_stdlib_text(characters=5_000, context=16)
    root = Path(sysconfig.get_paths()["stdlib"])
    text = (root / datasets.STDLIB_FILES[0]).read_text(encoding="utf-8")
    alphabet = datasets.TEXT_ALPHABET
    # Window 0 is held out (every 10th is), window 1 is the first training window.
    decoded = "".join(alphabet[i] if i < len(alphabet) else "?" for i in x[0])
    expected = "".join(c if c in alphabet else "?" for c in text[17:33])
    assert decoded == expected
    np.testing.assert_array_equal(x[0, 1:], y[0, :-1])  # labels are the next characters
    assert len(x_val) == -(-(5_000 // 17) // 10)
    with pytest.raises(ValueError, match="context"):
        datasets.load_stdlib_text(context=0)
