"""The Effort dashboard in a real TensorBoard, opened in a headless Chromium.

A short `fit` with `Restarts` writes a log dir and a ledger; TensorBoard serves the log dir
with the plugin found through its entry point; the page's table must equal
`keras-effort report` on the ledger, and its timeline show one bar per attempt.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (the `dev` extra).
Without them the test skips, except under CI (`CI=true`), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_effort import Ledger
from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
from keras_effort.restarts import FixedCutoff

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ENTRY_POINT = "keras_effort.report.tensorboard_plugin.plugin:EffortPlugin"
# TensorBoard given the plugin by hand, for environments without the entry point (not CI).
EXPLICIT_PLUGIN = """
import sys
from tensorboard import default, program
from keras_effort.report.tensorboard_plugin.plugin import EffortPlugin
board = program.TensorBoard(plugins=[*default.get_plugins(), EffortPlugin])
board.configure(argv=["tensorboard", *sys.argv[1:]])
sys.exit(board.main())
"""
STARTUP_SECONDS = 180  # TensorBoard imports TensorFlow: slow on a busy 2-core machine


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        _unavailable("Debian's chromium and chromium-driver are not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="effort-chromium-")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1800",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromium and chromedriver
        shutil.rmtree(profile, ignore_errors=True)


def _fit(log_dir: Path, ledger: Ledger, experiment: str, seed: int) -> Restarts:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=8)
    x = rng.normal(size=(512, 8)).astype("float32")
    x_val = rng.normal(size=(256, 8)).astype("float32")
    y, y_val = (x @ weights > 0).astype("int64"), (x_val @ weights > 0).astype("int64")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    target = TargetStopping(
        "val_accuracy", 0.94, check_every=4, validation_data=(x_val, y_val),
        ledger=ledger, experiment=experiment,
    )  # fmt: skip
    restarts = Restarts(target, FixedCutoff(16), max_total_steps=200, seed=seed)
    board = EffortTensorBoard(log_dir / experiment, restarts, hparams={"seed": seed})
    model.fit(x, y, epochs=50, batch_size=32, verbose=0, callbacks=[restarts, board])
    return restarts


@pytest.fixture(scope="module")
def tensorboard(tmp_path_factory):
    """A TensorBoard on 127.0.0.1 serving one run; stopped with every process it started."""
    installed = {ep.value for ep in metadata.entry_points(group="tensorboard_plugins")}
    if ENTRY_POINT in installed:
        launch = [sys.executable, "-m", "tensorboard.main"]
    elif os.environ.get("CI") == "true":  # CI installs the package: the entry point must work
        pytest.fail("keras-effort's `tensorboard_plugins` entry point is not installed")
    else:  # e.g. an editable install made before the entry point existed: name the plugin
        launch = [sys.executable, "-c", EXPLICIT_PLUGIN]
    root = tmp_path_factory.mktemp("dashboard")
    ledger = Ledger(root / "ledger.sqlite")
    restarts = _fit(root / "logs", ledger, "adam-first", seed=1)
    assert len(restarts.attempts) >= 2, "the run must restart for the timeline to be tested"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*launch, "--logdir", str(root / "logs"),
         "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: its data server goes with it
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/data/plugins_listing", timeout=5) as reply:
                    plugins = json.load(reply)
                break
            except OSError:
                assert server.poll() is None, "TensorBoard exited while starting"
                assert time.monotonic() < deadline, "TensorBoard did not start"
                time.sleep(1)
        yield {"url": url, "root": root, "ledger": ledger, "restarts": restarts,
               "plugins": plugins}  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        deadline = time.monotonic() + 30
        while _live_members(server.pid):  # its data server ends when it sees TensorBoard go
            assert time.monotonic() < deadline, f"left running: {_live_members(server.pid)}"
            time.sleep(0.5)


def _live_members(group: int) -> list[int]:
    """The processes of a process group that still run (zombies excepted), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the parenthesised command: state, parent, process group.
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:  # the process ended meanwhile
            continue
        if int(pgrp) == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _report(ledger: Path, *options: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "keras_effort.cli", "report", str(ledger), *options],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def _dashboard(driver, url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/#effort")
    frame = WebDriverWait(driver, 60).until(
        expected_conditions.presence_of_element_located((By.TAG_NAME, "iframe"))
    )
    driver.switch_to.frame(frame)
    WebDriverWait(driver, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "table.effort-table[data-scope^='run:']")
    )


# Read in one script, so that a refresh of the page cannot swap elements mid-read.
TABLE_SCRIPT = """
const table = document.querySelector(`table.effort-table[data-scope="${arguments[0]}"]`);
return [...table.querySelectorAll('tr')].slice(1).map((row) => [...row.querySelectorAll('td')]
    .map((cell) => [cell.dataset.field, cell.dataset.value, cell.textContent]));
"""
BARS_SCRIPT = """
return [...document.querySelectorAll('rect.attempt-bar')].map(
    (bar) => [+bar.dataset.start, +bar.dataset.end, bar.dataset.outcome]);
"""


def _table(driver, scope):
    """The rows of a table: {field: (value, text shown)}."""
    return [
        {field: (json.loads(value), text) for field, value, text in row}
        for row in driver.execute_script(TABLE_SCRIPT, scope)
    ]


def test_the_effort_dashboard_in_chromium(browser, tensorboard):
    from selenium.webdriver.common.by import By

    plugin = tensorboard["plugins"]["effort"]
    assert plugin["enabled"] and plugin["tab_name"] == "Effort"
    _dashboard(browser, tensorboard["url"])
    shots = os.environ.get("KERAS_EFFORT_SCREENSHOTS")  # for the docs: where to save them
    if shots:
        browser.save_screenshot(os.path.join(shots, "effort-dashboard.png"))

    # The table's numbers are `keras-effort report`'s on the same attempts.
    ledger_path = tensorboard["ledger"].path
    expected = json.loads(_report(ledger_path, "--json"))
    (page_row,) = _table(browser, "run:adam-first")
    (report_row,) = [row for row in expected if row["experiment"] == "adam-first"]
    assert {field: value for field, (value, _) in page_row.items()} == {
        field: report_row[field] for field in page_row
    }
    printed_table = _report(ledger_path)
    # z is in the Koza column's header; the early-censored count in the note.
    # The restart gain and its interval decide the regime column; like `keras-effort report`,
    # the page shows the regime, and the JSON the numbers behind it.
    shown = set(report_row) - {
        "koza_runs", "budget", "z", "censored_early", "restart_gain", "restart_gain_interval"
    }
    if "note" not in printed_table:
        shown -= {"successes"}  # the note column appears when an estimate rests on few successes
    assert set(page_row) == shown
    headers = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((th) => th.textContent)",
        "table.effort-table[data-scope='run:adam-first'] th",
    )
    assert f"Koza E({report_row['z']:g})" in headers
    # ... and read as the report's table prints them.
    printed = next(line for line in printed_table.splitlines() if "adam-first" in line)
    assert [text for _, text in page_row.values()] == [
        cell.strip() for cell in printed.strip().strip("│").split("│")
    ]

    # One bar per attempt, from its start to its end on the total-step axis.
    attempts = tensorboard["ledger"].attempts("adam-first")
    ends = np.cumsum([a.steps for a in attempts]).tolist()
    assert browser.execute_script(BARS_SCRIPT) == [
        [end - a.steps, end, a.outcome] for a, end in zip(attempts, ends, strict=True)
    ]
    reached = browser.find_elements(By.CSS_SELECTOR, "path.target-reached")
    assert len(reached) == sum(a.reached for a in attempts)

    # It refreshes as training goes on: a second run appears without reloading the page.
    _fit(tensorboard["root"] / "logs", tensorboard["ledger"], "adam-second", seed=2)
    deadline = time.monotonic() + 90
    while not browser.find_elements(
        By.CSS_SELECTOR, "table.effort-table[data-scope='run:adam-second']"
    ):
        assert time.monotonic() < deadline, "the second run never showed"
        time.sleep(1)
    # TensorBoard may first show part of the run; the pooled table comes to equal the report.
    expected = json.loads(_report(ledger_path, "--json"))
    while True:
        pooled = [
            {field: value for field, (value, _) in row.items()} for row in _table(browser, "pooled")
        ]
        if pooled == [{field: row[field] for field in pooled[0]} for row in expected]:
            break
        assert time.monotonic() < deadline, f"pooled {pooled} never equalled {expected}"
        time.sleep(1)
    if shots:  # the built-in dashboards on the same two runs
        browser.switch_to.default_content()
        for page in ("timeseries", "hparams"):
            browser.get(f"{tensorboard['url']}/#{page}")
            time.sleep(10)
            browser.save_screenshot(os.path.join(shots, f"effort-{page}.png"))
