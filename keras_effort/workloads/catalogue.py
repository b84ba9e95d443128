"""The workloads of the effort suite, and their targets (stored in `targets.json`)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from keras_effort.effort import Target
from keras_effort.workloads.workload import (
    MNIST1DCNN,
    MNIST1DGRU,
    MNIST1DMLP,
    DigitsConvGAP,
    DigitsResNet,
    FriedmanMLP,
    StdlibTransformer,
    Workload,
)

TARGETS_FILE = "targets.json"


def load_targets() -> dict[str, Target]:
    """The suite's targets, by workload name, as `benchmarks/suite_targets.py` set them.

    Raises:
        ValueError: when `targets.json` lacks a workload's target or holds a bad one.
    """
    document = json.loads(resources.files(__package__).joinpath(TARGETS_FILE).read_text())
    return {name: Target(**entry) for name, entry in document["targets"].items()}


def targets_provenance() -> dict[str, Any]:
    """How the stored targets were set: the `targets.json` document without its targets."""
    document = json.loads(resources.files(__package__).joinpath(TARGETS_FILE).read_text())
    return {key: value for key, value in document.items() if key != "targets"}


def _workloads() -> dict[str, Workload]:
    targets = load_targets()
    definitions: list[tuple[type[Workload], dict[str, Any]]] = [
        (MNIST1DMLP, dict(
            name="mnist1d_mlp", family="MLP", width=100, depth=2, batch_size=100, budget=1600,
            check_every=40,
            description="MNIST-1D, 40 -> Dense(100) -> Dense(100) -> 10 (the any-rate protocol)",
        )),
        (MNIST1DCNN, dict(
            name="mnist1d_cnn", family="1-D CNN", width=32, depth=3, batch_size=100,
            budget=1200, check_every=40,
            description="MNIST-1D, 3 x Conv1D(32, 5, stride 2) -> Dense(10)",
        )),
        (MNIST1DGRU, dict(
            name="mnist1d_gru", family="RNN", width=32, depth=1, batch_size=100, budget=1200,
            check_every=40,
            description="MNIST-1D as 40 steps of 1 feature, GRU(32) -> Dense(10)",
        )),
        (DigitsResNet, dict(
            name="digits_resnet", family="2-D CNN, BatchNorm, residual", width=16, depth=1,
            batch_size=50, budget=560, check_every=28,
            description="digits 8x8x1, Conv-BN stem, 1 residual block, max-pool -> Dense(10)",
        )),
        (DigitsConvGAP, dict(
            name="digits_conv_gap", family="2-D CNN, global average pooling", width=16, depth=2,
            batch_size=50, budget=840, check_every=28,
            description="digits 8x8x1, Conv2D(16, 3, same) -> Conv2D(32, 3) -> GAP -> Dense(10), "
            "30 epochs, validation on the last 397 digits of a seeded permutation",
        )),
        (StdlibTransformer, dict(
            name="stdlib_transformer", family="Transformer", width=64, depth=1, batch_size=32,
            budget=690, check_every=69,
            description="character LM on 120k characters of stdlib source, context 48, "
            "1 pre-norm block (2 heads, width 64)",
        )),
        (FriedmanMLP, dict(
            name="friedman_mlp", family="MLP regression", width=64, depth=2, batch_size=50,
            budget=1200, check_every=40,
            description="Friedman #1 (noise 1), 10 -> Dense(64) -> Dense(64) -> 1, MSE",
        )),
    ]
    workloads = {}
    for kind, fields in definitions:
        name = fields["name"]
        if name not in targets:
            raise ValueError(f"{TARGETS_FILE} has no target for the workload {name!r}")
        workloads[name] = kind(target=targets[name], **fields)
    return workloads


WORKLOADS: dict[str, Workload] = _workloads()
