"""What a range test found: the rates, the losses, the suggestions and their plot."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_effort.callbacks.lr_finder.maths import smooth_losses, suggest_learning_rates

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclasses.dataclass(frozen=True, eq=False)
class LearningRateFinderResult:
    """The curve of a learning-rate range test and the rates it suggests.

    Attributes:
        learning_rates: the rate of each step run, increasing.
        losses: the training loss of each step.
        smoothed_losses: `smooth_losses(losses, beta)`.
        steepest: the rate of steepest descent of the smoothed loss, or `None`.
        edge_of_stability: the rate at the lowest smoothed loss divided by `safety_factor`, or
            `None` when no loss was finite.
        diverged: whether the test stopped early because the loss exploded or became NaN.
        safety_factor: the divisor used for `edge_of_stability`.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    steepest: float | None
    edge_of_stability: float | None
    diverged: bool
    safety_factor: float

    @classmethod
    def from_losses(
        cls,
        learning_rates: Sequence[float] | np.ndarray,
        losses: Sequence[float] | np.ndarray,
        beta: float = 0.98,
        safety_factor: float = 10.0,
        diverged: bool = False,
    ) -> LearningRateFinderResult:
        """Smooth a recorded curve and compute its suggestions.

        Args:
            learning_rates: the rate of each step, increasing.
            losses: the training loss of each step.
            beta: the smoothing weight of `smooth_losses`.
            safety_factor: the edge-of-stability divisor of `suggest_learning_rates`.
            diverged: whether the test was stopped by divergence.

        Returns:
            The result, with read-only float64 arrays.
        """
        rates = np.array(learning_rates, dtype=np.float64)
        raw = np.array(losses, dtype=np.float64)
        smoothed = smooth_losses(raw, beta)
        steepest, edge = suggest_learning_rates(rates, smoothed, safety_factor)
        for array in (rates, raw, smoothed):
            array.setflags(write=False)
        return cls(rates, raw, smoothed, steepest, edge, bool(diverged), float(safety_factor))

    def plot(self, ax: Axes | None = None) -> Axes:
        """Plot the raw and smoothed loss against the rate (log axis), suggestions marked.

        Requires matplotlib (`pip install keras-effort[plot]`).

        Args:
            ax: a matplotlib `Axes` to draw on; a new figure's axes when `None`.

        Returns:
            The `Axes`.
        """
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(6.4, 4.0), layout="constrained").subplots()
        ax.plot(self.learning_rates, self.losses, color="0.7", linewidth=0.8, label="loss")
        ax.plot(self.learning_rates, self.smoothed_losses, color="C0", label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        finite = self.smoothed_losses[np.isfinite(self.smoothed_losses)]
        if finite.size:
            # Frame the descent: the exploding tail would squash it.
            low = float(min(finite.min(), np.nanmin(self.losses[np.isfinite(self.losses)])))
            high = float(finite[0])
            span = max(high - low, 1e-3 * abs(high), 1e-12)
            ax.set_ylim(low - 0.2 * span, high + 0.5 * span)
        for rate, label, color in (
            (self.steepest, "steepest", "C1"),
            (self.edge_of_stability, "edge of stability", "C3"),
        ):
            if rate is not None:
                ax.axvline(rate, color=color, linestyle="--", label=f"{label}: {rate:.3g}")
        ax.legend()
        return ax

    def save_plot(self, path: str | os.PathLike) -> str:
        """Write `plot()` to a PNG file atomically (a temporary file, then `os.replace`).

        Args:
            path: the PNG file to write.

        Returns:
            The path written, as a string.
        """
        path = os.fspath(path)
        ax = self.plot()
        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(suffix=".png", dir=directory)
        try:
            with os.fdopen(handle, "wb") as stream:
                ax.figure.savefig(stream, format="png", dpi=120)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        return path
