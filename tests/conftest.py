"""Shared test set-up.

TensorFlow's CPU is split into two logical devices before TensorFlow initialises, so that
`tf.distribute.MirroredStrategy` can be tested on a machine without accelerators.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
import tensorflow as tf

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


@pytest.fixture(scope="session")
def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy over the two logical CPU devices."""
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
