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

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

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
    "test_tuner_comparison.py": "the benchmark harness runs on TensorFlow",
}


# Known gaps on one backend, skipped there with the reason: {backend: {module: {prefix: reason}}}.
NO_STEPS_PER_EXECUTION = "Keras' PyTorch backend runs one step per call (steps_per_execution=1)"
KNOWN_GAPS: dict[str, dict[str, dict[str, str]]] = {
    "torch": {
        "test_callbacks.py": {
            "test_steps_per_execution_sets_the_granularity": NO_STEPS_PER_EXECUTION,
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


# ------------------------------------------------------------------------------ PostgreSQL
# A throw-away PostgreSQL server for the tests marked `postgres`: a cluster in a temporary
# folder, on 127.0.0.1 and a free port, stopped whatever happens. The server refuses to run as
# root, so as root it runs as the `postgres` user. Without Debian's server binaries the tests
# skip, except in CI (CI=true), where skipping would hide that they did not run.


class PostgresServer:
    """A PostgreSQL cluster of one superuser `keras` (password `POSTGRES_PASSWORD`)."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data, self.log = root / "data", root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        password_file = root / "password"
        password_file.write_text(POSTGRES_PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(password_file, "postgres")
        self._pg(
            "initdb", "-D", self.data, "-U", "keras", "--auth=scram-sha-256",
            "--pwfile", password_file, "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
        )
        self._pg("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://keras:{POSTGRES_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new empty database."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def _pg(self, program: str, *args: object) -> None:
        command = [str(self.bindir / program), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed:\n{result.stdout}{result.stderr}{log[-2000:]}")


POSTGRES_PASSWORD = "pw-never-printed"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for this test session (each xdist worker has its own)."""
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        reason = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the postgres tests")
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="the `postgres` extra is not installed")
    root = Path(tempfile.mkdtemp(prefix="keras-effort-pg-"))
    server = PostgresServer(Path(initdbs[-1]).parent, root)
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new ledger lives: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")
