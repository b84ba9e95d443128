"""A soak of the ledger's fault drills: many writers for minutes, killed and replaced at random,
on SQLite and on a throw-away PostgreSQL server that is restarted mid-run; then a distributed
search whose chief and workers are killed and restarted.

Each writer process writes attempts `0, 1, 2, ...` of its run and prints each number only once
its row is committed (an acknowledged row). Half the writers share one run name, the case where
rows of concurrent writers once overwrote each other. Every few seconds one writer, picked at
random, is killed with SIGKILL (mid-write, often) and a new one started; on PostgreSQL the
server is also stopped (`pg_ctl -m fast`, dropping every connection) and started again. At the
end every row is read back and compared with what the writers acknowledged:

- lost: an acknowledged row not in the ledger (goal 0);
- duplicated: an attempt of a writer found in more than one row (goal 0);
- in flight: a row committed by a writer killed before it could print it (at most one per kill;
  neither lost nor duplicated).

The distributed phase runs the distributed drill's tiny search (tests/distributed_search.py,
JAX backend): a KerasTuner chief and 2 workers writing one SQLite ledger, one of the three
killed with SIGKILL every 5-20 s for `--minutes` and started again (it resumes from the
search's folder), then left to finish; nothing is killed once a worker has been told the
search is over (a chief started again then would wait for ever: KerasTuner's server exits only
after telling a worker to stop). An execution killed mid-way is run again with its trial, and
its row replaced in place. At the end the ledger is compared with the trials the
oracle saved:

- acknowledged: each execution of a trial the oracle recorded completed (a worker reports a
  trial only once all its executions ran and were written);
- lost: an acknowledged execution, or a row seen in the ledger before a kill, not in the
  ledger at the end (goal 0);
- duplicated: an execution found in more than one row (goal 0);
- not acknowledged: a row of no completed trial's execution;
- the oracle's score of each trial, checked against the one computed from the ledger alone.

Prints a table per kind of phase and writes benchmarks/results/ledger_soak.json (a run of
some `--phases` updates only theirs). PostgreSQL needs Debian's server binaries
(`/usr/lib/postgresql/*/bin`) and psycopg; without them that phase is skipped.

    nice -n 10 python benchmarks/ledger_soak.py --minutes 2 --writers 8 --phases sqlite postgresql
    nice -n 10 python benchmarks/ledger_soak.py --minutes 3 --phases distributed
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from keras_effort import Ledger

RESULTS = Path(__file__).parent / "results" / "ledger_soak.json"
# The PostgreSQL server and the distributed search are the test suite's (tests/conftest.py,
# tests/distributed_search.py), imported from there.
TESTS = Path(__file__).parent.parent / "tests"

# Prints its writer id, then each attempt's number once its row is committed, until killed or
# until the file `stop` exists.
_WRITER = textwrap.dedent(
    """
    import os, sys
    from keras_effort.ledger import Attempt, Ledger
    location, run, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    ledger = Ledger(location, timeout=120)
    print(ledger.writer, flush=True)
    number = 0
    while not os.path.exists(stop):
        ledger.add(Attempt("soak", "val_accuracy", 0.9, steps=number, reached=True, run=run,
                           attempt=number, curve=[(1, 0.5), (number, 0.9)]))
        print(number, flush=True)
        number += 1
    """
)


class Writer:
    """A writer process and the numbers it acknowledged, read by a thread as they come."""

    def __init__(self, location: str, run: str, stop: Path) -> None:
        self.run = run
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WRITER, location, run, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.writer: str | None = None
        self.acknowledged: list[int] = []
        self.killed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if self.writer is None:
                self.writer = line.strip()
            else:
                self.acknowledged.append(int(line))

    def kill(self) -> None:
        self.killed = True
        self.process.send_signal(signal.SIGKILL)

    def finish(self) -> str:
        """Wait for the process; its stderr."""
        error = self.process.stderr.read()
        self.process.wait(timeout=300)
        self._reader.join(timeout=60)
        return error


def soak(
    location: str, seconds: float, writers: int, rng: random.Random, restart: Any = None
) -> dict[str, Any]:
    """Run the writers on `location` for `seconds`; count what was acknowledged and found."""
    Ledger(location)  # created once, before the writers race to
    stop = Path(tempfile.mkdtemp(prefix="soak-")) / "stop"
    names = iter(range(10**6))

    def start() -> Writer:
        number = next(names)
        return Writer(location, "shared" if number % 2 == 0 else f"own-{number}", stop)

    running = [start() for _ in range(writers)]
    everyone = list(running)
    kills = restarts = 0
    started = time.monotonic()
    next_restart = started + seconds / 3 if restart else None
    while time.monotonic() - started < seconds:
        time.sleep(rng.uniform(1.0, 4.0))
        victim = rng.choice(running)
        if victim.writer is not None:  # started: killed mid-run, often mid-write
            victim.kill()
            kills += 1
            running.remove(victim)
            replacement = start()
            running.append(replacement)
            everyone.append(replacement)
        if next_restart is not None and time.monotonic() >= next_restart:
            restart()
            restarts += 1
            next_restart += seconds / 3
    stop.touch()
    errors = [(w, w.finish()) for w in everyone]
    failed = [error for w, error in errors if not w.killed and w.process.returncode != 0]
    if failed:
        raise RuntimeError(f"a writer failed:\n{failed[0][-3000:]}")
    rows = Ledger(location, read_only=True).attempts()
    found: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for row in rows:
        assert row.steps == row.attempt, row  # each row holds what its writer wrote
        found[(row.writer, row.run)].append(row.attempt)
    acknowledged = lost = in_flight = 0
    for writer in everyone:
        numbers = found.get((writer.writer, writer.run), [])
        acknowledged += len(writer.acknowledged)
        lost += len(set(writer.acknowledged) - set(numbers))
        extra = set(numbers) - set(writer.acknowledged)
        # Killed between a commit and its print, a writer has one row more than it printed.
        if writer.killed and extra <= {len(writer.acknowledged)}:
            in_flight += len(extra)
        else:
            lost += len(extra)  # a row no writer wrote: counted as a fault too
    duplicated = sum(len(numbers) - len(set(numbers)) for numbers in found.values())
    integrity = "n/a"
    if not location.startswith("postgresql://"):
        with sqlite3.connect(location) as connection:
            integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "writers started": len(everyone),
        "writers killed": kills,
        "server restarts": restarts,
        "rows acknowledged": acknowledged,
        "rows found": len(rows),
        "in flight at a kill": in_flight,
        "duplicated": duplicated,
        "lost": lost,
        "sharing one run": sum(w.run == "shared" for w in everyone),
        "integrity": integrity,
    }


def distributed_soak(seconds: float, trials: int, rng: random.Random) -> dict[str, Any]:
    """Run a distributed search (a chief and 2 workers, one SQLite ledger) to its end, killing
    a process every 5-20 s during the first `seconds`; compare the ledger with the trials.

    The processes are those of the distributed drill (tests/distributed_search.py): a killed
    one is started again under the same tuner id and resumes from the search's folder.
    """
    os.environ.setdefault("KERAS_BACKEND", "jax")  # keras_tuner imports Keras: a light one
    sys.path.insert(0, str(TESTS))
    from distributed_search import SCRIPT, free_port, start_search
    from keras_tuner.engine.trial import Trial, TrialStatus

    from keras_effort.tuners.oracle import EXECUTIONS

    folder = Path(tempfile.mkdtemp(prefix="soak-search-"))
    script, location, port = folder / "search.py", str(folder / "ledger.sqlite"), free_port()
    script.write_text(SCRIPT)
    Ledger(location)  # created once, before the processes race to

    def start(tuner_id: str) -> subprocess.Popen:
        return start_search(script, folder, location, tuner_id, port, trials, backend="jax")

    processes = {name: start(name) for name in ("chief", "worker0", "worker1")}
    kills: collections.Counter[str] = collections.Counter()
    committed: dict[tuple[str, str], tuple[Any, ...]] = {}  # rows seen before a kill

    def content(row: Any) -> tuple[Any, ...]:
        return (row.writer, row.attempt, row.steps, row.seconds, row.best_value)

    started = time.monotonic()
    outputs: dict[str, str] = {}
    failures: list[str] = []
    cut = 0
    try:
        next_kill = started + rng.uniform(5.0, 20.0)
        while processes:
            time.sleep(0.5)
            for name, process in list(processes.items()):
                if process.poll() is None:
                    continue
                out, err = process.communicate()
                if process.returncode == 0:  # ended of itself: the search is over for it
                    outputs[name] = out
                    del processes[name]
                    continue
                # Failed of itself (a worker whose call was cut by the chief's kill): counted,
                # shown, and started again like a killed one.
                failures.append(f"{name}: {err.strip().splitlines()[-1] if err.strip() else '?'}")
                if len(failures) > 10:
                    raise RuntimeError(f"{name} failed ({process.returncode}):\n{err[-3000:]}")
                processes[name] = start(name)
            now = time.monotonic()
            # Once a worker has been told the search is over, nothing is killed: a chief
            # started again after every worker has stopped waits for ever (KerasTuner's
            # server exits only after telling a worker to stop).
            ending = any(name.startswith("worker") for name in outputs)
            if now >= next_kill and now - started < seconds and not ending:
                for row in Ledger(location, read_only=True).attempts():
                    committed[(row.experiment, row.run)] = content(row)
                victim = rng.choice(sorted(processes))
                # The trials the chief holds as running (its last saved state): the victim's,
                # or all of them when the chief is the victim, are cut and run again.
                try:
                    state = json.loads((folder / "toy" / "oracle.json").read_text())
                except (FileNotFoundError, json.JSONDecodeError):  # not yet, or mid-rewrite
                    state = {"ongoing_trials": {}}
                ongoing = state["ongoing_trials"]
                cut += len(ongoing) if victim == "chief" else int(victim in ongoing)
                processes[victim].send_signal(signal.SIGKILL)
                processes[victim].communicate()
                kills[victim] += 1
                processes[victim] = start(victim)
                next_kill = now + rng.uniform(5.0, 20.0)
            if now - started > seconds + 600:
                raise RuntimeError(f"the search did not end in {seconds + 600:.0f} s")
    finally:
        for process in processes.values():
            process.kill()
            process.communicate()
    (line,) = [x for x in outputs["chief"].splitlines() if x.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    project = folder / "toy"
    saved = [Trial.load(str(path)) for path in project.glob("trial_*/trial.json")]
    rows = Ledger(location, read_only=True).attempts()
    found: dict[tuple[str, str], list[Any]] = collections.defaultdict(list)
    for row in rows:
        found[(row.experiment.rpartition("/")[2], row.run)].append(row)
    # Acknowledged: each execution of a trial the oracle recorded completed (a worker reports
    # a trial's end only after all its executions ran and were written).
    acknowledged = {
        (f"trial_{t.trial_id}", f"trial_{t.trial_id}/execution_{e}")
        for t in saved
        if t.status == TrialStatus.COMPLETED
        for e in range(int(t.hyperparameters.values[EXECUTIONS]))
    }
    committed_keys = {(e.rpartition("/")[2], run) for e, run in committed}
    final = {(row.experiment, row.run): content(row) for row in rows}
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "seconds": round(time.monotonic() - started, 1),
        "trials (completed / in the oracle)": (
            f"{sum(t.status == TrialStatus.COMPLETED for t in saved)} / {len(saved)}"
        ),
        "chief killed": kills["chief"],
        "workers killed": kills["worker0"] + kills["worker1"],
        "trials running at a kill": cut,
        "rows acknowledged": len(acknowledged),
        "rows found": len(rows),
        "committed before a kill, then re-run": sum(
            key in final and final[key] != row for key, row in committed.items()
        ),
        "not acknowledged": len(set(found) - acknowledged),
        "duplicated": sum(len(v) - 1 for v in found.values()),
        "lost": len((acknowledged | committed_keys) - set(found)),
        "processes that failed of themselves (started again)": len(failures),
        "scores equal to the ledger's": (
            f"{sum(_score_matches(result['scores'][t], found, t) for t in result['scores'])}"
            f" / {len(result['scores'])}"
        ),
        "failures": failures,
    }


def _score_matches(score: float, found: dict[tuple[str, str], list[Any]], trial: str) -> bool:
    """Whether the oracle's score of `trial` is the expected steps of its rows in the ledger."""
    from keras_effort.effort import RuntimeDistribution

    rows = [r for (t, _), v in found.items() if t == f"trial_{trial}" for r in v]
    expected = RuntimeDistribution.from_attempts(rows).expected_steps()
    return score == expected or (math.isinf(score) and math.isinf(expected))


def postgres_server() -> Any:
    """A throw-away server, as tests/conftest.py starts it; `None` without the binaries."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return None
    try:
        import psycopg  # noqa: F401 (the extra is needed)
    except ImportError:
        return None
    os.environ.setdefault("KERAS_BACKEND", "jax")  # conftest would start TensorFlow otherwise
    sys.path.insert(0, str(TESTS))
    from conftest import PostgresServer

    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
    server = PostgresServer(Path(initdb).parent, Path(tempfile.mkdtemp(prefix="soak-pg-")))
    server.start()
    return server


PHASES = ("sqlite", "postgresql", "distributed")


def table(title: str, results: dict[str, dict[str, Any]]) -> Table:
    """The phases' measures, one column per phase."""
    shown = Table(title=title)
    shown.add_column("measure")
    for name in results:
        shown.add_column(name, justify="right")
    for column in next(iter(results.values())):
        if column != "failures":
            shown.add_row(column, *(str(results[name][column]) for name in results))
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="per phase (2)")
    parser.add_argument("--writers", type=int, default=8, help="writer processes at once (8)")
    parser.add_argument("--trials", type=int, default=60, help="of the distributed search (60)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds = 60 * args.minutes
    rng = random.Random(args.seed)
    results = {}
    if "sqlite" in args.phases:
        folder = Path(tempfile.mkdtemp(prefix="soak-sqlite-"))
        results["sqlite"] = soak(str(folder / "ledger.sqlite"), seconds, args.writers, rng)
        shutil.rmtree(folder, ignore_errors=True)
    server = postgres_server() if "postgresql" in args.phases else None
    if server is not None:

        def restart() -> None:
            server.stop("fast")  # every client's connection dropped, mid-write for some
            time.sleep(2.0)
            server.start()

        try:
            results["postgresql"] = soak(
                server.new_database(), seconds, args.writers, rng, restart
            )
        finally:
            server.stop("immediate")
            shutil.rmtree(server.root, ignore_errors=True)
    writers = {k: v for k, v in results.items() if k != "distributed"}
    if writers:
        title = f"Ledger soak: {args.writers} writers at once, SIGKILLed at random"
        Console().print(table(title, writers))
    if "distributed" in args.phases:
        results["distributed"] = distributed_soak(seconds, args.trials, rng)
        title = "Distributed search: a chief and 2 workers, SIGKILLed at random"
        Console().print(table(title, {"distributed": results["distributed"]}))

    # Each phase keeps the command that measured it: a run of some phases updates only those.
    command = " ".join(["python", "benchmarks/ledger_soak.py", *sys.argv[1:]])
    previous = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else {}
    for name in results:
        results[name] = {"command": command, **results[name]}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "results": {**previous, **results},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS}")
    if any(r["lost"] or r["duplicated"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
