"""A soak of the ledger's fault drills: many writers for minutes, killed and replaced at random,
on SQLite and on a throw-away PostgreSQL server that is restarted mid-run.

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

Prints a table and writes benchmarks/results/ledger_soak.json. PostgreSQL needs Debian's
server binaries (`/usr/lib/postgresql/*/bin`) and psycopg; without them only SQLite runs.

    nice -n 10 python benchmarks/ledger_soak.py --minutes 2 --writers 8
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
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


def postgres_server() -> Any:
    """A throw-away server, as tests/conftest.py starts it; `None` without the binaries."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return None
    try:
        import psycopg  # noqa: F401 (the extra is needed)
    except ImportError:
        return None
    os.environ.setdefault("KERAS_BACKEND", "jax")  # conftest would start TensorFlow otherwise
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    from conftest import PostgresServer

    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
    server = PostgresServer(Path(initdb).parent, Path(tempfile.mkdtemp(prefix="soak-pg-")))
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="per database (2)")
    parser.add_argument("--writers", type=int, default=8, help="writer processes at once (8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds = 60 * args.minutes
    rng = random.Random(args.seed)
    results = {}
    folder = Path(tempfile.mkdtemp(prefix="soak-sqlite-"))
    results["sqlite"] = soak(str(folder / "ledger.sqlite"), seconds, args.writers, rng)
    shutil.rmtree(folder, ignore_errors=True)
    server = postgres_server()
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

    columns = list(next(iter(results.values())))
    table = Table(title=f"Ledger soak: {args.writers} writers at once, SIGKILLed at random")
    table.add_column("measure")
    for name in results:
        table.add_column(name, justify="right")
    for column in columns:
        table.add_row(column, *(str(results[name][column]) for name in results))
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": " ".join(["python", "benchmarks/ledger_soak.py", *sys.argv[1:]]),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "results": results,
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
