"""One effort search spread over several processes or machines, all writing one ledger.

Every process runs this same script (KerasTuner's distributed mode). The environment says who
it is and where the chief listens:

    KERASTUNER_TUNER_ID      "chief" on one process, "worker0", "worker1", ... on the others
    KERASTUNER_ORACLE_IP     the chief's address (the workers connect to it)
    KERASTUNER_ORACLE_PORT   the chief's port
    KERAS_EFFORT_LEDGER      postgresql://user:password@host:5432/dbname (every process)

On one machine, to try it (a PostgreSQL database must exist):

    export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000
    export KERAS_EFFORT_LEDGER=postgresql://effort:secret@127.0.0.1:5432/effort
    KERASTUNER_TUNER_ID=chief   python examples/cluster/search.py --directory /tmp/search &
    KERASTUNER_TUNER_ID=worker0 python examples/cluster/search.py --directory /tmp/search &
    KERASTUNER_TUNER_ID=worker1 python examples/cluster/search.py --directory /tmp/search
    keras-effort report "$KERAS_EFFORT_LEDGER"

`examples/cluster/search.sbatch` starts the same processes under the SLURM scheduler.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from keras_effort import Ledger
from keras_effort.datasets import load_mnist1d
from keras_effort.tuners import EffortSearch


def build(hp):
    learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    width = hp.Choice("width", [32, 64, 128])
    model = keras.Sequential(
        [
            keras.Input((40,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="shared by the processes of one host")
    parser.add_argument("--max-trials", type=int, default=12, help="at least 9: the staged plan")
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--target", type=float, default=0.5, help="validation accuracy")
    args = parser.parse_args()

    # Each worker may use every GPU of its host; with none, this is the CPU.
    strategy = tf.distribute.MirroredStrategy()
    (x, y), (x_val, y_val) = load_mnist1d()
    tuner = EffortSearch(
        build,
        target=("val_accuracy", args.target),
        max_trials=args.max_trials,
        max_steps=args.max_steps,
        executions_per_trial=2,
        seed=0,
        ledger=Ledger(os.environ["KERAS_EFFORT_LEDGER"]),
        distribution_strategy=strategy,
        directory=args.directory,
        project_name="cluster",
    )
    tuner.search(x, y, validation_data=(x_val, y_val), batch_size=64, verbose=0)
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        for trial in tuner.oracle.get_best_trials(3):
            print(trial.trial_id, trial.hyperparameters.values, trial.score)


if __name__ == "__main__":
    main()
