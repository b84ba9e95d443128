"""No password leaves the URL it came in: not in a repr, an error, a log line, a warning or
anything the command line prints (issue 24, security)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import warnings
from urllib.parse import quote

import pytest

from keras_effort import Ledger
from keras_effort.ledger import Attempt, LedgerError

pytestmark = pytest.mark.reliability

SECRET = "pw-never-printed"  # the test server's password (tests/conftest.py)


def _free_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("postgresql://user:s3cret-pass@host/db", ["s3cret-pass"]),
        ("postgresql://user@host/db?password=s3cret-pass&sslmode=disable", ["s3cret-pass"]),
        ("postgres://user@host/db?sslpassword=key-pass&password=s3cret-pass", ["key-pass"]),
        ("postgresql://user:p%41ss%zz@host/db", ["p%41ss%zz", "pAss%zz"]),
        ("postgresql://user:caf%C3%A9-pass@host/db", ["caf%C3%A9-pass", "café-pass"]),
        ("postgresql://user@host/db?password=a%26b%3Dc", ["a%26b%3Dc", "a&b=c"]),
    ],
)
def test_redact_masks_every_form_of_a_url_password_raw_and_decoded(url, secrets):
    from keras_effort.ledger.redact import redact

    # The URL printed, and a driver's message echoing the secret in either form.
    echoed = f"failed for {url}: invalid token {' and '.join(secrets)}; host=h password=x1y2"
    for text in (redact(url), redact(echoed, url)):
        assert not any(secret in text for secret in secrets), text
        assert "x1y2" not in text and "***" in text
    assert redact(url).startswith(url.split("://")[0] + "://user")  # the rest stays readable
    assert redact("/tmp/runs.sqlite", url) == "/tmp/runs.sqlite"


def test_a_malformed_percent_encoded_password_is_not_echoed_in_the_error():
    pytest.importorskip("psycopg")
    url = f"postgresql://keras:p%41ss%zz@127.0.0.1:{_free_port()}/effort"
    with pytest.raises(LedgerError) as raised:
        Ledger(url, timeout=1)
    message = str(raised.value)
    assert "percent-encoded" in message  # the reason is kept: only the secret is masked
    assert "p%41ss%zz" not in message and "pAss%zz" not in message
    assert "p%41ss%zz" not in repr(raised.value.__cause__ or "")


@pytest.mark.postgres
def test_the_repr_of_a_ledger_hides_a_password_given_as_a_parameter(postgres_server):
    url = postgres_server.new_database().replace(f":{SECRET}@", "@")
    for query in (f"?password={SECRET}", f"?sslpassword=ssl-{SECRET}&password={SECRET}"):
        ledger = Ledger(url + query)
        assert SECRET not in repr(ledger) and SECRET not in ledger.location
        assert "password=***" in repr(ledger) and "keras@127.0.0.1" in repr(ledger)
    assert SECRET not in repr(Ledger(postgres_server.new_database()))


# A fit whose ledger writes start failing mid-run: warnings, the error of `flush` at the end
# and the error logged at exit must all name the server, never the password.
_FAILING_FIT = textwrap.dedent(
    """
    import logging, sys, warnings
    import keras, numpy as np
    from keras_effort import Ledger
    from keras_effort.callbacks import Restarts, TargetStopping
    from keras_effort.ledger import LedgerError
    logging.basicConfig(level=logging.DEBUG)  # every log line reaches stderr
    warnings.simplefilter("always")
    good, unreachable, refused = sys.argv[1], sys.argv[2], sys.argv[3]
    ledger = Ledger(good, timeout=1)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(1e-6), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class ServerGone(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ledger._store.url = unreachable  # the same password, a server that went away
            ledger._store.close()

    target = TargetStopping("accuracy", 0.999, check_every=1, experiment="gone")
    restarts = Restarts(target, 2, max_total_steps=6, seed=0, ledger=ledger, verbose=1)
    try:
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[restarts, ServerGone()])
    except LedgerError as error:
        print("flush:", error)
    try:
        TargetStopping("accuracy", 0.9, ledger=refused)  # a bad URL given to a callback
    except LedgerError as error:
        print("bad url:", error, repr(error))
    """
)


def _run(command, cwd, *, env=None):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=environment, cwd=cwd
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.postgres
def test_no_command_or_callback_prints_the_password(postgres_server, tmp_path, capfd, caplog):
    """Every CLI command on a PostgreSQL ledger, empty and not, with the password in the URL
    and as a parameter, or refused; a fit whose writes fail (the server unreachable), then a
    callback given a refused URL."""
    from keras_effort.cli import main

    empty = postgres_server.new_database()
    Ledger(empty)  # a ledger with no attempts
    full = postgres_server.new_database()
    Ledger(full).add(Attempt("adam", "val_accuracy", 0.9, steps=100, reached=True))
    as_parameter = full.replace(f":{SECRET}@", "@") + f"?password={quote(SECRET)}"
    port = postgres_server.port
    unreachable = f"postgresql://keras:{SECRET}@127.0.0.1:{_free_port()}/effort"
    refused = f"postgresql://keras:{SECRET}-wrong@127.0.0.1:{port}/postgres"

    def _cli(*arguments):
        capfd.readouterr()
        caplog.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = main(list(arguments))
        out, err = capfd.readouterr()
        return code, "\n".join([out, err, caplog.text, *(str(w.message) for w in caught)])

    outputs = {}
    demo = ["demo", "--runs", "1", "--epochs", "1", "--check-every", "5", "--targets", "0.3"]
    outputs["demo"] = _cli(*demo, "--ledger", postgres_server.new_database())
    for name, url in (("empty", empty), ("parameter", as_parameter), ("refused", refused)):
        outputs[f"report {name}"] = _cli("report", url, "--bootstrap", "0")
    outputs["report --html"] = _cli(
        "report", full, "--bootstrap", "0", "--html", str(tmp_path / "full.html")
    )
    outputs["plot empty"] = _cli("plot", empty, "-o", str(tmp_path / "empty.png"))
    outputs["export empty"] = _cli("export", empty, "--format", "ioh", str(tmp_path / "ioh"))
    outputs["fit"] = _run(
        [sys.executable, "-c", _FAILING_FIT, full, unreachable, refused],
        tmp_path,
        env={"KERAS_BACKEND": "jax"},
    )
    for command, (_, output) in outputs.items():
        assert SECRET not in output, f"`{command}` printed the password:\n{output}"
    # The commands did run and say what they did, with the location masked or named.
    code, output = outputs["demo"]
    assert code == 0 and "attempts recorded in postgresql://keras:***@127.0.0.1" in output
    code, output = outputs["plot empty"]
    assert code == 2 and "postgresql://keras:***@127.0.0.1" in output and "no attempts" in output
    assert outputs["report parameter"][0] == 0 and "adam" in outputs["report parameter"][1]
    assert outputs["report refused"][0] == 2 and "password authentication failed" in (
        outputs["report refused"][1]
    )
    code, output = outputs["fit"]
    assert "LedgerWriteWarning" in output
    assert re.search(r"flush: \d+ attempt\(s\) could not be written", output), output
    assert "bad url: cannot open the ledger PostgreSQL database 'postgres'" in output
    assert "were never written to the ledger" in output  # the exit hook's error, logged
