"""Shared test set-up, for every Keras backend.

The suite runs under the backend named by `KERAS_BACKEND` (TensorFlow when unset); CI runs it
under TensorFlow, JAX and PyTorch. Tests that exercise TensorFlow itself
(`tf.distribute.MirroredStrategy`, `tf.data`, `tf.function`, reference trajectories unrolled
with `tf.GradientTape`, and the comparisons that start another backend in a subprocess from the
TensorFlow run) carry the `tensorflow_only` marker and are skipped, with their reason, under
the other backends. A test is marked in one of three ways: it uses the `mirrored_strategy`
fixture; it is decorated with `@pytest.mark.tensorflow_only(reason=...)`; or it is listed in
`TENSORFLOW_ONLY` below (for modules written before the suite ran on several backends).

Under TensorFlow, the CPU is split into two logical devices before TensorFlow initialises, so
that `tf.distribute.MirroredStrategy` can be tested on a machine without accelerators.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The float64 reference tests need float64 arrays; JAX makes them float32 unless x64 is on.
if BACKEND == "jax":
    os.environ.setdefault("JAX_ENABLE_X64", "1")

import pytest  # noqa: E402 (after the environment variables it reads)

if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

# Test module -> why it runs only under TensorFlow; or {test name prefix: reason} for some tests.
TENSORFLOW_ONLY: dict[str, str | dict[str, str]] = {
    "test_hypergradient.py": "reference trajectories are unrolled with tf.GradientTape",
    "test_tuner_distributed.py": "trials run under tf.distribute strategies",
    "test_schedules.py": {
        "test_jit_compile_matches_eager": "compiles the schedules with tf.function",
        "test_schedules_and_finder_on_jax_backend": "compares TensorFlow with a JAX subprocess",
    },
    "test_hypergradient_keras.py": {
        "test_jax_backend_matches_tensorflow": "compares TensorFlow with a JAX subprocess",
    },
    "test_active_lr.py": {
        "test_jax_backend_matches_tensorflow": "compares TensorFlow with a JAX subprocess",
    },
}


# Known gaps on one backend, skipped there with the reason: {backend: {module: {prefix: reason}}}.
KNOWN_GAPS: dict[str, dict[str, dict[str, str]]] = {
    "jax": {
        "test_schedules.py": {
            prefix: "float64 schedules are computed partly in float32 on JAX (open)"
            for prefix in (
                "test_one_cycle_matches_pytorch_formulas_in_float64",
                "test_luby_cosine_restarts_matches_reference",
                "test_luby_cosine_restarts_far_out_steps",
                "test_luby_cosine_restarts_follow_the_restart_policy_cutoffs",
            )
        },
    },
}


def _tensorflow_only_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("tensorflow_only")
    if marker is not None:
        return marker.kwargs.get("reason", "exercises TensorFlow")
    if "mirrored_strategy" in getattr(item, "fixturenames", ()):
        return "uses tf.distribute.MirroredStrategy"
    listed = TENSORFLOW_ONLY.get(item.path.name)
    if isinstance(listed, str):
        return listed
    for prefix, reason in (listed or {}).items():
        if item.name.startswith(prefix):
            return reason
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark TensorFlow-only tests, and skip them under the other backends."""
    gaps = KNOWN_GAPS.get(BACKEND, {})
    for item in items:
        for prefix, gap in gaps.get(item.path.name, {}).items():
            if item.name.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=f"Known gap on {BACKEND}: {gap}"))
        reason = _tensorflow_only_reason(item)
        if reason is None:
            continue
        item.add_marker(pytest.mark.tensorflow_only)
        if BACKEND != "tensorflow":
            item.add_marker(pytest.mark.skip(reason=f"TensorFlow only: {reason}"))


@pytest.fixture(scope="session")
def mirrored_strategy():
    """A MirroredStrategy over the two logical CPU devices (TensorFlow backend only)."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    return tf.distribute.MirroredStrategy(devices)


def run_with_backend(backend: str, code: str, timeout: float = 300) -> str:
    """Run `code` in a fresh Python process with `KERAS_BACKEND=backend`; return its stdout.

    The Keras backend is fixed at import time, so other backends are tested in subprocesses.
    Fails the test with the process's stderr when it exits non-zero.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.setdefault("JAX_PLATFORMS", "cpu")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"{backend} subprocess failed:\n{result.stderr[-4000:]}")
    return result.stdout
