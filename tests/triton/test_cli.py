"""``edge-runtime triton serve-models`` as a user runs it: a subprocess that prints each model's
URL when ready, serves it, and on SIGINT stops the server and exits 0; mistakes are one line
and exit 2 before any server starts."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.cli.main import main
from edge_runtime.triton.launch import PYTHON_ENV, free_port
from tests.conftest import REPO
from tests.triton.conftest import CLASSIFIER, infer, reference

ENGINES = REPO / "engines"


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout, line by line, from a thread (so waiting for one can time out)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no line starting {prefix!r} within {timeout} s") from None
        if line.startswith(prefix):
            return line


def test_serve_models_serves_until_sigint(triton_python: Path) -> None:
    grpc, http, metrics = free_port(), free_port(), free_port()
    command = [sys.executable, "-m", "edge_runtime", "triton", "serve-models",
               str(ENGINES / "classifier.yaml"), "--grpc-port", str(grpc),
               "--http-port", str(http), "--metrics-port", str(metrics), "--max-batch", "4"]
    env = {**os.environ, PYTHON_ENV: str(triton_python)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=REPO)
    try:
        lines = lines_of(process)
        ready = wait_for(lines, "serving ", timeout=120)
        assert ready == (f"serving classifier version 1 at grpc://127.0.0.1:{grpc} "
                         "(max batch 4, queue delay 2000 us)")
        info = wait_for(lines, "HTTP at ", timeout=10)
        assert f"http://127.0.0.1:{http}" in info and f"127.0.0.1:{metrics}/metrics" in info
        log = Path(info.split("log: ")[1].split(";")[0])
        assert log.is_file()
        frames = np.random.default_rng(5).random((4, 3, 64, 64), dtype=np.float32)
        (logits,) = infer(f"127.0.0.1:{grpc}", "classifier", {"image": frames}, ["logits"])
        (expected,) = reference(CLASSIFIER, {"image": frames})
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        assert not log.parent.exists()  # the server's files went with it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(("argv", "expected"), [
    (["nowhere.yaml"], "nowhere.yaml: not found"),
    ([str(ENGINES / "classifier.yaml"), "--max-batch", "0"], "--max-batch must be at least 1"),
    ([str(ENGINES / "classifier.yaml"), "--grpc-port", "70000"], "--grpc-port must be a port"),
])
def test_a_mistake_is_one_line_and_exit_2(argv: list[str], expected: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triton", "serve-models", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err


def test_help_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["triton", "serve-models", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: edge-runtime triton serve-models" in out and "--max-queue-delay-us" in out
