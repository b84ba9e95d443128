"""Learning-rate schedules for large learning rates and warm restarts.

Effort-optimal runs use unusually large learning rates, and near a model's accuracy limit many
short restarts win (see `docs/schedules.md`). These schedules make both practical:

- `OneCycle`: warm up to a large peak rate and anneal far below the start (super-convergence);
  the same values as PyTorch's `OneCycleLR`.
- `CyclicalLearningRate`: Smith's triangular, triangular2 and exp_range cycles, by name, so a
  saved model reloads.
- `LubyCosineRestarts`: cosine annealing with warm restarts whose cycle lengths follow the Luby
  sequence, the universal restart cutoffs of `keras_effort.restarts.Luby`.
- `Warmup`: linear warm-up in front of any schedule or constant rate.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule` computed with `keras.ops`
only, without Python branches on the step, so it runs on every Keras backend and under XLA
(`jit_compile=True`, JAX's `jit`). It reads the step the optimizer passes (its `iterations`), so
an optimizer whose `iterations` is reset (as `keras_effort.callbacks.Restarts` does when it starts
a new attempt) starts its schedule again. Schedules accept a scalar or an array of steps; integer
steps are computed in `keras.config.floatx()`, floating steps in their own dtype (so
`schedule(np.arange(1000.0))` gives float64 rates for plotting).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_effort.arguments import (
    flag,
    non_negative_real,
    one_of,
    positive_int,
    positive_real,
    real_in,
)

__all__ = ["CyclicalLearningRate", "LubyCosineRestarts", "OneCycle", "Warmup"]

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


def _float_step(step):
    """The step as a floating tensor: integer steps in floatx, floating steps as they are."""
    step = ops.convert_to_tensor(step)
    if keras.backend.is_float_dtype(step.dtype):
        return step
    return ops.cast(step, keras.config.floatx())


def _constant(value: float, dtype):
    return ops.convert_to_tensor(value, dtype=dtype)


# Keras computes `ops.floor` of float64 tensors in float32 on PyTorch and JAX, and
# `ops.maximum` and `ops.minimum` on PyTorch; these keep the step's dtype on every backend.
def _floor(x):
    return x - ops.mod(x, ops.ones_like(x))


def _at_least_zero(x):
    return ops.where(x > 0, x, ops.zeros_like(x))


def _at_most_one(x):
    return ops.where(x < 1, x, ops.ones_like(x))


def _half_cosine(fraction):
    """`(1 + cos(pi * fraction)) / 2` for `fraction` in [0, 1], in the dtype of `fraction`.

    Not from `ops.cos`: Keras' JAX backend computes the cosine of a float64 tensor in float32
    (its type promotion demotes 64-bit types). Written as `cos(pi f / 2)**2` for f <= 1/2 and
    `sin(pi (1 - f) / 2)**2` above, both of an angle in [0, pi/4], each a Taylor series to the
    power 20 (the first term left out is below `(pi/4)**22 / 22! < 1e-23`): only arithmetic,
    which keeps the dtype on every backend, and no cancellation near 0 at the end of a cycle.
    """
    lower = fraction <= 0.5
    x = (math.pi / 2) * ops.where(lower, fraction, 1.0 - fraction)
    x2 = x * x
    # Horner's forms of cos x = 1 - x^2/2! + x^4/4! - ... and sin x = x - x^3/3! + ...
    cos, sin = ops.ones_like(x), ops.ones_like(x)
    for k in range(10, 0, -1):
        cos = 1.0 - x2 / ((2 * k - 1) * (2 * k)) * cos
        sin = 1.0 - x2 / ((2 * k) * (2 * k + 1)) * sin
    sin = x * sin
    return ops.where(lower, cos * cos, sin * sin)


def _cosine_anneal(start, end, fraction):
    """From `start` at fraction 0 to `end` at fraction 1 along half a cosine."""
    return end + (start - end) * _half_cosine(fraction)


def _linear_anneal(start, end, fraction):
    # Weighted this way the ends are exact: `end` at fraction 1, not `start + (end - start)`.
    return start * (1.0 - fraction) + end * fraction


@keras.saving.register_keras_serializable(package="keras_effort")
class OneCycle(LearningRateSchedule):
    """The one-cycle policy: warm up to a large peak rate, then anneal far below the start.

    The rate starts at `max_learning_rate / div_factor`, rises to `max_learning_rate` at step
    `pct_start * total_steps - 1` and anneals to
    `max_learning_rate / (div_factor * final_div_factor)` at step `total_steps - 1`. With
    `three_phase=True` it first comes back down to the starting rate at step
    `2 * pct_start * total_steps - 2` and only then anneals to the final rate, as in the
    paper (the two-phase default follows fastai).
    Within each phase the rate follows half a cosine (`anneal="cos"`) or a straight line
    (`anneal="linear"`).

    For steps `0 .. total_steps - 1` the values are those of PyTorch's
    `torch.optim.lr_scheduler.OneCycleLR` with the same arguments. After step `total_steps - 1`
    the final rate is held (PyTorch raises an error after step `total_steps`).

    The large peak rate is the point: Smith & Topin found that a one-cycle run at a peak rate
    near the edge of stability (see `keras_effort.callbacks.LearningRateFinder`) reaches a given
    accuracy in far fewer steps ("super-convergence").

    Example:

    ```python
    schedule = OneCycle(max_learning_rate=0.5, total_steps=2000)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    ```

    Args:
        max_learning_rate: the peak rate, > 0.
        total_steps: the length of the cycle in optimizer steps, a positive integer.
        pct_start: the fraction of `total_steps` spent warming up, in (0, 1).
            `pct_start * total_steps` must exceed 1.
        div_factor: the starting rate is `max_learning_rate / div_factor`; > 0.
        final_div_factor: the final rate is the starting rate divided by `final_div_factor`; > 0.
        anneal: `"cos"` (cosine) or `"linear"`.
        three_phase: whether to anneal back to the starting rate before annealing to the final
            rate. Needs `2 * pct_start * total_steps - 2 < total_steps - 1` (about
            `pct_start < 0.5`).
        name: name of the operation.

    Raises:
        ValueError: if an argument is outside the range given above.

    Reference:
        - [Smith & Topin, 2018. Super-Convergence: Very Fast Training of Neural Networks Using
          Large Learning Rates](https://arxiv.org/abs/1708.07120)
        - PyTorch's [`OneCycleLR`](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
        name: str = "OneCycle",
    ):
        super().__init__()
        self.max_learning_rate = positive_real("max_learning_rate", max_learning_rate)
        self.total_steps = positive_int("total_steps", total_steps)
        self.pct_start = real_in("pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
        self.div_factor = positive_real("div_factor", div_factor)
        self.final_div_factor = positive_real("final_div_factor", final_div_factor)
        self.anneal = one_of("anneal", anneal, ("cos", "linear"))
        self.three_phase = flag("three_phase", three_phase)
        self.name = name

        warmup_end = self.pct_start * self.total_steps - 1
        if warmup_end <= 0:
            raise ValueError(
                "`pct_start * total_steps` must be > 1 so that the warm-up phase (which ends at "
                f"step pct_start * total_steps - 1) lasts at least one step; got "
                f"pct_start={pct_start!r}, total_steps={total_steps!r}"
            )
        if three_phase and 2 * self.pct_start * self.total_steps - 2 >= self.total_steps - 1:
            raise ValueError(
                "With `three_phase=True`, `2 * pct_start * total_steps - 2` must be < "
                "`total_steps - 1` so that the phases do not overlap (about pct_start < 0.5); "
                f"got pct_start={pct_start!r}, total_steps={total_steps!r}"
            )

    @property
    def initial_learning_rate(self) -> float:
        """The rate at step 0: `max_learning_rate / div_factor`."""
        return self.max_learning_rate / self.div_factor

    @property
    def final_learning_rate(self) -> float:
        """The rate from step `total_steps - 1` on: `initial_learning_rate / final_div_factor`."""
        return self.initial_learning_rate / self.final_div_factor

    def _phases(self) -> list[tuple[float, float, float, float]]:
        """`(start_step, end_step, start_rate, end_rate)` per phase, with PyTorch's end steps."""
        warmup_end = self.pct_start * self.total_steps - 1
        last_step = float(self.total_steps - 1)
        peak, start, final = (
            self.max_learning_rate,
            self.initial_learning_rate,
            self.final_learning_rate,
        )
        if self.three_phase:
            descent_end = 2 * self.pct_start * self.total_steps - 2
            return [
                (0.0, warmup_end, start, peak),
                (warmup_end, descent_end, peak, start),
                (descent_end, last_step, start, final),
            ]
        return [(0.0, warmup_end, start, peak), (warmup_end, last_step, peak, final)]

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _float_step(step)
            dtype = step.dtype
            anneal = _cosine_anneal if self.anneal == "cos" else _linear_anneal

            def phase_rate(start_step, end_step, start_rate, end_rate):
                # Clipping holds the end rate after the last phase and keeps every phase's
                # value finite, since all phases are computed and `where` picks one.
                fraction = ops.clip((step - start_step) / (end_step - start_step), 0.0, 1.0)
                return anneal(_constant(start_rate, dtype), _constant(end_rate, dtype), fraction)

            phases = self._phases()
            rate = phase_rate(*phases[-1])
            # PyTorch uses the first phase whose end step is >= step; walking the earlier
            # phases backwards lets each one override the later ones.
            for phase in reversed(phases[:-1]):
                rate = ops.where(step <= phase[1], phase_rate(*phase), rate)
            return rate

    def get_config(self) -> dict:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="keras_effort")
class CyclicalLearningRate(LearningRateSchedule):
    """Cyclical learning rates: the rate goes back and forth between two bounds.

    Each cycle lasts `2 * step_size` steps: the rate climbs linearly from
    `initial_learning_rate` to `maximal_learning_rate` over `step_size` steps and comes back down
    over the next `step_size`. With `cycle = floor(1 + step / (2 * step_size))` and
    `x = |step / step_size - 2 * cycle + 1|`:

        rate = initial + (maximal - initial) * max(0, 1 - x) * scale

    where `scale` depends on `mode`:

    - `"triangular"`: 1, every cycle reaches `maximal_learning_rate`;
    - `"triangular2"`: `1 / 2 ** (cycle - 1)`, the amplitude halves every cycle;
    - `"exp_range"`: `gamma ** step`, the amplitude decays exponentially with the step.

    Cycling spends part of every cycle at large rates, which helps a run leave poor regions, and
    needs no decision about when to decay. Smith suggests a `step_size` of 2 to 10 epochs and
    bounds from a learning-rate range test (`keras_effort.callbacks.LearningRateFinder`): the
    maximal rate near the edge of stability, the initial rate 3 to 4 times lower.

    The modes are stored by name, so unlike `tensorflow_addons.optimizers.CyclicalLearningRate`
    (whose configuration held a `scale_fn` lambda) a model using it saves and reloads.

    Example:

    ```python
    schedule = CyclicalLearningRate(0.01, 0.1, step_size=500, mode="triangular2")
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    ```

    Args:
        initial_learning_rate: the lower bound, >= 0.
        maximal_learning_rate: the upper bound, >= `initial_learning_rate`.
        step_size: the number of steps of half a cycle, a positive integer.
        mode: `"triangular"`, `"triangular2"` or `"exp_range"`.
        gamma: the decay of `"exp_range"` per step, in (0, 1]; ignored by the other modes.
        name: name of the operation.

    Raises:
        ValueError: if an argument is outside the range given above.

    Reference:
        - [Smith, 2017. Cyclical Learning Rates for Training Neural
          Networks](https://arxiv.org/abs/1506.01186)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: int,
        mode: str = "triangular",
        gamma: float = 1.0,
        name: str = "CyclicalLearningRate",
    ):
        super().__init__()
        self.initial_learning_rate = non_negative_real(
            "initial_learning_rate", initial_learning_rate
        )
        self.maximal_learning_rate = positive_real("maximal_learning_rate", maximal_learning_rate)
        if self.maximal_learning_rate < self.initial_learning_rate:
            raise ValueError(
                "`maximal_learning_rate` must be >= `initial_learning_rate`, got "
                f"maximal_learning_rate={maximal_learning_rate!r} < "
                f"initial_learning_rate={initial_learning_rate!r}"
            )
        self.step_size = positive_int("step_size", step_size)
        self.mode = one_of("mode", mode, ("triangular", "triangular2", "exp_range"))
        self.gamma = real_in("gamma", gamma, 0.0, 1.0, low_open=True)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _float_step(step)
            dtype = step.dtype
            step_size = _constant(self.step_size, dtype)
            cycle = _floor(1.0 + step / (2.0 * step_size))
            x = ops.abs(step / step_size - 2.0 * cycle + 1.0)
            if self.mode == "triangular":
                scale = _constant(1.0, dtype)
            elif self.mode == "triangular2":
                scale = ops.power(_constant(0.5, dtype), cycle - 1.0)
            else:
                scale = ops.power(_constant(self.gamma, dtype), step)
            amplitude = _constant(self.maximal_learning_rate - self.initial_learning_rate, dtype)
            return (
                _constant(self.initial_learning_rate, dtype)
                + amplitude * _at_least_zero(1.0 - x) * scale
            )

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "maximal_learning_rate": self.maximal_learning_rate,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="keras_effort")
class LubyCosineRestarts(LearningRateSchedule):
    """Cosine annealing with warm restarts after Luby-sequence cycle lengths.

    Like `keras.optimizers.schedules.CosineDecayRestarts` (SGDR), each cycle anneals the rate
    from `initial_learning_rate` to `alpha * initial_learning_rate` along half a cosine and then
    restarts at `initial_learning_rate`. The cycle lengths are the Luby sequence
    1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8, ... times `unit_steps`: the universal restart
    cutoffs of Luby, Sinclair & Zuckerman, also used by `keras_effort.restarts.Luby`. Without
    knowing how long a good run takes, these cutoffs cost within a logarithmic factor of the best
    fixed cutoff; here each warm restart gets that cutoff's budget, and every length is tried
    again and again, twice as often as the next longer one.

    Within a cycle of `length` steps that started at step `start`:

        rate = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * (step - start) / length)) + alpha)

    How the cycle of a step is found without a loop over the step (so the schedule is
    jit-compatible): the first `2**k - 1` cycles form a block of `k * 2**(k - 1)` units made of
    two copies of the previous block followed by one cycle of `2**(k - 1)` units. A fixed
    40-level descent of these blocks (a `keras.ops.fori_loop` with static bounds, a few
    `keras.ops.where` per level) finds the cycle of any step below `unit_steps * 40 * 2**39`,
    far beyond any training run; later steps stay at the end of the last cycle, at rate
    `alpha * initial_learning_rate`. The descent works in steps with integers times powers of
    two, so it is exact while the step is exactly representable (below 2**24 in float32, the
    limit of Keras' own schedules) and `40 * unit_steps < 2**24`.

    Example:

    ```python
    schedule = LubyCosineRestarts(0.1, unit_steps=200)   # cycles of 200, 200, 400, 200, ...
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    ```

    Args:
        initial_learning_rate: the rate at the start of every cycle, > 0.
        unit_steps: the length of the shortest cycle in steps, a positive integer.
        alpha: the rate at the end of a cycle as a fraction of `initial_learning_rate`, in
            [0, 1].
        name: name of the operation.

    Raises:
        ValueError: if an argument is outside the range given above.

    Reference:
        - [Luby, Sinclair & Zuckerman, 1993. Optimal speedup of Las Vegas
          algorithms](https://doi.org/10.1016/0020-0190(93)90029-9)
        - [Loshchilov & Hutter, 2017. SGDR: Stochastic Gradient Descent with Warm
          Restarts](https://arxiv.org/abs/1608.03983)
    """

    # Levels of the block descent: 40 levels cover 40 * 2**39 units, about 2.2e13.
    _LEVELS = 40

    def __init__(
        self,
        initial_learning_rate: float,
        unit_steps: int,
        alpha: float = 0.0,
        name: str = "LubyCosineRestarts",
    ):
        super().__init__()
        self.initial_learning_rate = positive_real("initial_learning_rate", initial_learning_rate)
        self.unit_steps = positive_int("unit_steps", unit_steps)
        self.alpha = real_in("alpha", alpha, 0.0, 1.0)
        self.name = name

    def _cycle_position(self, step):
        """`(elapsed, length)` in steps of the Luby cycle that contains `step` (>= 0).

        Block `k` (the first `2**k - 1` cycles) is block `k - 1` twice, then a final cycle of
        `2**(k - 1)` units. From the top level down, a step in the final cycle is located; a
        step in the second copy moves back by one sub-block; a step in the first copy stays.
        All sizes are integers times powers of two, so the arithmetic is exact.
        """
        unit = float(self.unit_steps)
        top = self._LEVELS

        def descend(_, state):
            position, elapsed, length, found, sub_block, final_cycle = state
            in_final_cycle = ops.logical_and(ops.logical_not(found), position >= 2 * sub_block)
            elapsed = ops.where(in_final_cycle, position - 2 * sub_block, elapsed)
            length = ops.where(in_final_cycle, final_cycle, length)
            found = ops.logical_or(found, in_final_cycle)
            in_second_copy = ops.logical_and(ops.logical_not(found), position >= sub_block)
            position = ops.where(in_second_copy, position - sub_block, position)
            # One level down: the final cycle halves, and a block is two sub-blocks and a cycle.
            final_cycle = final_cycle / 2.0
            sub_block = (sub_block - final_cycle) / 2.0
            return position, elapsed, length, found, sub_block, final_cycle

        dtype = step.dtype
        initial_state = (
            step,
            ops.zeros_like(step),
            ops.full_like(step, unit),
            ops.zeros_like(step, dtype="bool"),
            _constant(unit * (top - 1) * 2.0 ** (top - 2), dtype),  # block top - 1, in steps
            _constant(unit * 2.0 ** (top - 1), dtype),  # the final cycle of block top
        )
        _, elapsed, length, *_ = ops.fori_loop(0, top, descend, initial_state)
        return elapsed, length

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _float_step(step)
            dtype = step.dtype
            elapsed, length = self._cycle_position(_at_least_zero(step))
            fraction = _at_most_one(elapsed / length)
            cosine = _half_cosine(fraction)
            alpha = _constant(self.alpha, dtype)
            return _constant(self.initial_learning_rate, dtype) * ((1.0 - alpha) * cosine + alpha)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "unit_steps": self.unit_steps,
            "alpha": self.alpha,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="keras_effort")
class Warmup(LearningRateSchedule):
    """Linear warm-up in front of any schedule or constant rate.

    For the first `warmup_steps` steps the rate rises linearly from `initial_learning_rate` to
    the wrapped schedule's rate at its step 0 (or to the constant rate); from step
    `warmup_steps` on it is the wrapped schedule's rate at `step - warmup_steps`. The wrapped
    schedule thus starts after the warm-up and runs in full, the convention of Keras'
    `CosineDecay(..., warmup_target=..., warmup_steps=...)`, whose decay also sees
    `step - warmup_steps`: `Warmup(CosineDecay(target, decay_steps), warmup_steps)` gives the same
    rates as `CosineDecay(0.0, decay_steps, warmup_target=target, warmup_steps=warmup_steps)`.
    Unlike that, any schedule (for example `OneCycle` or `LubyCosineRestarts`) or a constant can
    be warmed up, and the warm-up is computed with `where` rather than `cond`.

    A warm-up lets a run start at a large rate that would diverge from the random
    initialisation, where gradients are large and the curvature is sharp.

    Example:

    ```python
    schedule = Warmup(LubyCosineRestarts(0.5, unit_steps=100), warmup_steps=50)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    ```

    Args:
        schedule_or_rate: a `keras.optimizers.schedules.LearningRateSchedule` or a constant
            rate > 0.
        warmup_steps: the length of the warm-up in steps, a positive integer.
        initial_learning_rate: the rate at step 0, >= 0.
        name: name of the operation.

    Raises:
        ValueError: if an argument is outside the range given above.

    Reference:
        - [Goyal et al., 2017. Accurate, Large Minibatch SGD: Training ImageNet in 1
          Hour](https://arxiv.org/abs/1706.02677) (gradual warm-up)
    """

    def __init__(
        self,
        schedule_or_rate: LearningRateSchedule | float,
        warmup_steps: int,
        initial_learning_rate: float = 0.0,
        name: str = "Warmup",
    ):
        super().__init__()
        if not isinstance(schedule_or_rate, LearningRateSchedule):
            schedule_or_rate = positive_real("schedule_or_rate", schedule_or_rate)
        self.schedule_or_rate = schedule_or_rate
        self.warmup_steps = positive_int("warmup_steps", warmup_steps)
        self.initial_learning_rate = non_negative_real(
            "initial_learning_rate", initial_learning_rate
        )
        self.name = name

    def _after_warmup(self, step, dtype):
        if isinstance(self.schedule_or_rate, LearningRateSchedule):
            return ops.cast(self.schedule_or_rate(step), dtype)
        return ops.broadcast_to(_constant(self.schedule_or_rate, dtype), ops.shape(step))

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = _float_step(step)
            dtype = step.dtype
            warmup_steps = _constant(self.warmup_steps, dtype)
            # The wrapped schedule never sees a negative step, which some schedules (inverse
            # time decay, say) would turn into an infinite or NaN value.
            rate_after = self._after_warmup(_at_least_zero(step - warmup_steps), dtype)
            target = self._after_warmup(ops.zeros_like(step), dtype)
            start = _constant(self.initial_learning_rate, dtype)
            warming = start + (target - start) * _at_least_zero(step) / warmup_steps
            return ops.where(step < warmup_steps, warming, rate_after)

    def get_config(self) -> dict:
        schedule_or_rate = self.schedule_or_rate
        if isinstance(schedule_or_rate, LearningRateSchedule):
            schedule_or_rate = keras.optimizers.schedules.serialize(schedule_or_rate)
        return {
            "schedule_or_rate": schedule_or_rate,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> Warmup:
        config = dict(config)
        if isinstance(config["schedule_or_rate"], dict):
            config["schedule_or_rate"] = keras.optimizers.schedules.deserialize(
                config["schedule_or_rate"]
            )
        return cls(**config)
