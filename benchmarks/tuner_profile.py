"""Wall seconds (and optionally a cProfile) of one search of `tuner_comparison.py` on a task.

The search runs as `tuner_comparison.py`'s `main` runs it (one inter-op thread, start-up
objects frozen out of the garbage collector), at the task's tuning budget in steps, or with
`--budget-unit seconds` at its wall-clock budget (`SECONDS`), without the re-measurement.
Prints one JSON line: tuner, seed, budget unit, steps, wall seconds, the process's CPU seconds
(less sensitive than wall seconds to other programs on a shared machine), the load average at
the start and the end. With `--out FILE` the line, with every `fit` of the search (its
configuration, steps and seconds), is also appended to FILE, which `tuner_work.py` reads.

    python benchmarks/tuner_profile.py --tuner "EffortSearch (staged)" --seed 0
    python benchmarks/tuner_profile.py --tuner optuna --seed 0
    python benchmarks/tuner_profile.py --tuner "EffortSearch (staged)" --profile staged.prof
    python benchmarks/tuner_profile.py --tuner optuna --seed 1 --budget-unit seconds
    python benchmarks/tuner_profile.py --tuner optuna --seed 0 --out fits.jsonl
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import tensorflow as tf
import tuner_comparison as tc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default="EffortSearch (staged)", help="a TUNERS name or optuna")
    parser.add_argument("--task", default="digits", choices=sorted(tc.TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    parser.add_argument("--budget-unit", choices=("steps", "seconds"), default="steps")
    parser.add_argument("--out", type=Path, default=None, help="append the row and its fits")
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    gc.freeze()
    task = tc.TASKS[args.task]
    data = tc.load(task)
    in_seconds = args.budget_unit == "seconds"
    tuning_seconds, max_seconds = tc.SECONDS[args.task] if in_seconds else (None, None)
    counter = tc.Clock(tuning_seconds) if in_seconds else tc.StepCounter(task.tuning_steps)
    trajectory = tc.Trajectory(counter)
    profiler = cProfile.Profile() if args.profile else None
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as directory:
        if profiler:
            profiler.enable()
        if args.tuner.lower().startswith("optuna"):
            tc.run_optuna(task, data, args.seed, trajectory)
        else:
            tc.run_keras_tuner(
                args.tuner, task, data, args.seed, directory, trajectory, max_seconds
            )
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    row = {
        "tuner": args.tuner,
        "task": args.task,
        "seed": args.seed,
        "budget_unit": args.budget_unit,
        "steps": counter.total,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "load": [round(load, 1), round(os.getloadavg()[0], 1)],
    }
    print(json.dumps(row))
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps({**row, "fits": counter.fits}) + "\n")


if __name__ == "__main__":
    main()
