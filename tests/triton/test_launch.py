"""A real Triton Inference Server (PyTriton's tritonserver, onnxruntime inside) started by
TritonServer on free ports: ready, outputs equal onnxruntime's on the same input, concurrent
requests batched, requests of different lengths served exactly, a crash (kill) unreachable,
a server that fails to start reported with its log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from edge_runtime.errors import UserError
from edge_runtime.triton import launch
from edge_runtime.triton.launch import TritonModelSpec, TritonServer, find_triton_python, free_port
from tests.triton.conftest import CLASSIFIER, COMMANDS, infer, reference

#: Long enough that requests sent together meet in the queue even on a busy 2-core CI host.
QUEUE_DELAY_US = 100_000


@pytest.fixture(scope="module")
def server(triton_python: Path) -> Iterator[TritonServer]:
    models = [TritonModelSpec(name="classifier", onnx=CLASSIFIER, max_batch_size=8,
                              max_queue_delay_us=QUEUE_DELAY_US),
              TritonModelSpec(name="commands", onnx=COMMANDS, max_batch_size=8,
                              max_queue_delay_us=QUEUE_DELAY_US, instances=2)]
    started = time.monotonic()
    with TritonServer(models, python=triton_python) as running:
        print(f"Triton ready in {time.monotonic() - started:.1f} s")
        yield running


@pytest.fixture
def client(server: TritonServer) -> Iterator[Any]:
    made = grpcclient.InferenceServerClient(server.url)
    yield made
    made.close()


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 3, 64, 64), dtype=np.float32)


def counts(client: Any, model: str) -> tuple[int, int]:
    """(inferences, executions) the server counted for ``model``: requests' batch items, and
    the batches it ran."""
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return int(stats.get("inference_count", 0)), int(stats.get("execution_count", 0))


def test_the_server_and_its_models_are_ready(server: TritonServer, client: Any) -> None:
    assert server.url == f"127.0.0.1:{server.grpc_port}"
    assert server.pid is not None and server.is_running()
    assert client.is_server_live() and client.is_server_ready()
    for name in ("classifier", "commands"):
        assert client.is_model_ready(name, "1")
        assert client.get_model_metadata(name, as_json=True)["versions"] == ["1"]
    config = client.get_model_config("classifier", as_json=True)["config"]
    assert config["max_batch_size"] == 8
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == QUEUE_DELAY_US
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        ("image", "TYPE_FP32", ["3", "64", "64"])]
    assert [(o["name"], o["dims"]) for o in config["output"]] == [("logits", ["8"])]
    commands = client.get_model_config("commands", as_json=True)["config"]
    assert [(i["name"], i["data_type"], i["dims"]) for i in commands["input"]] == [
        ("input_ids", "TYPE_INT64", ["-1"]), ("attention_mask", "TYPE_INT64", ["-1"])]
    assert "serving classifier version 1 at grpc://127.0.0.1:" in server.log_path.read_text()


def test_outputs_equal_onnxruntime_on_the_same_input(server: TritonServer) -> None:
    frames = images(3)
    (logits,) = infer(server.url, "classifier", {"image": frames}, ["logits"])
    (expected,) = reference(CLASSIFIER, {"image": frames})
    assert logits.shape == (3, 8) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_concurrent_requests_are_served_in_batches(server: TritonServer, client: Any) -> None:
    count = 8
    frames = images(count, seed=1)
    (expected,) = reference(CLASSIFIER, {"image": frames})
    before = counts(client, "classifier")
    barrier = threading.Barrier(count)

    def one(index: int) -> np.ndarray:
        barrier.wait()
        (logits,) = infer(server.url, "classifier", {"image": frames[index:index + 1]},
                          ["logits"])
        return logits

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    for index, logits in enumerate(results):
        np.testing.assert_allclose(logits[0], expected[index], rtol=1e-5, atol=1e-6)
    inferences, executions = (a - b for a, b in zip(counts(client, "classifier"), before,
                                                    strict=True))
    assert inferences == count
    assert executions < count, f"{count} concurrent requests ran in {executions} batches"


def test_requests_of_different_lengths_are_served_exactly(server: TritonServer) -> None:
    rng = np.random.default_rng(2)
    feeds = []
    for length in (5, 12, 5, 19, 12, 5):
        ids = rng.integers(1, 100, (1, length), dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    barrier = threading.Barrier(len(feeds))

    def one(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        barrier.wait()
        return infer(server.url, "commands", feed, ["intent_logits", "slot_logits"])

    with ThreadPoolExecutor(len(feeds)) as pool:
        results = list(pool.map(one, feeds))
    for feed, (intent, slots) in zip(feeds, results, strict=True):
        expected_intent, expected_slots = reference(COMMANDS, feed)
        assert slots.shape == (1, feed["input_ids"].shape[1], 11)
        np.testing.assert_allclose(intent, expected_intent, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(slots, expected_slots, rtol=1e-5, atol=1e-5)


#: Run in the Triton venv: the served function, handed one batch of requests of three lengths
#: (which Triton's batcher itself does not mix), answers each as onnxruntime does.
MIXED_BATCH = """
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
import server
from pytriton.proxy.types import Request
entry = server.ModelEntry("commands", Path(sys.argv[2]), max_batch_size=8, max_queue_delay_us=0)
session = server.make_session(entry.onnx, 1)
io = server.model_io(session, entry)
assert [(t.name, t.shape) for t in io.inputs] == [("input_ids", (-1,)), ("attention_mask", (-1,))]
assert [(t.name, t.shape) for t in io.outputs] == [("intent_logits", (8,)),
                                                   ("slot_logits", (-1, 11))]
rng = np.random.default_rng(0)
requests = []
for length in (5, 9, 5, 14):
    ids = rng.integers(1, 100, (1, length), dtype=np.int64)
    requests.append(Request(data={"input_ids": ids, "attention_mask": np.ones_like(ids)}))
responses = server.infer_function(session, io)(requests)
for request, response in zip(requests, responses, strict=True):
    intent, slots = session.run(None, dict(request.items()))
    np.testing.assert_allclose(response["intent_logits"], intent, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(response["slot_logits"], slots, rtol=1e-5, atol=1e-5)
print("served", [r["slot_logits"].shape[1] for r in responses])
"""


def test_one_batch_of_mixed_lengths_is_run_by_shape(triton_python: Path) -> None:
    done = subprocess.run(
        [str(triton_python), "-P", "-c", MIXED_BATCH, str(launch.SERVER_SCRIPT.parent),
         str(COMMANDS)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "served [5, 9, 5, 14]"


def test_a_killed_server_is_unreachable(triton_python: Path) -> None:
    spec = TritonModelSpec(name="classifier", onnx=CLASSIFIER, max_batch_size=2)
    server = TritonServer([spec], python=triton_python).start()
    try:
        (logits,) = infer(server.url, "classifier", {"image": images(1)}, ["logits"])
        assert logits.shape == (1, 8)
        pid = server.pid
        assert pid is not None
        server.kill()
        assert not server.is_running()
        assert server.log_path.is_file()  # kept for a look until stop()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        client = grpcclient.InferenceServerClient(server.url)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.is_server_live(client_timeout=1)
                except InferenceServerException:
                    break
                assert time.monotonic() < deadline, "the killed server still answers"
                time.sleep(0.1)
            with pytest.raises(InferenceServerException):
                infer(server.url, "classifier", {"image": images(1)}, ["logits"])
        finally:
            client.close()
    finally:
        server.stop()
    assert not server.log_path.parent.exists()


#: A launcher that starts a server, says where, and waits to be killed.
LAUNCHER = """
import sys, time
from pathlib import Path
from edge_runtime.triton.launch import TritonModelSpec, TritonServer
spec = TritonModelSpec(name="classifier", onnx=Path(sys.argv[2]), max_batch_size=1)
server = TritonServer([spec], python=sys.argv[1]).start()
print(server.pid, server.log_path, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        with Path(f"/proc/{pid}/stat").open() as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie serves nothing
    except FileNotFoundError:
        return True


def test_a_server_stops_when_its_launcher_is_killed(triton_python: Path) -> None:
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(triton_python),
                                 str(CLASSIFIER)], stdout=subprocess.PIPE, text=True)
    log: Path | None = None
    try:
        assert launcher.stdout is not None
        pid_text, log_text = launcher.stdout.readline().split()
        pid, log = int(pid_text), Path(log_text)
        launcher.kill()
        launcher.wait()
        deadline = time.monotonic() + 30
        while not gone(pid):
            assert time.monotonic() < deadline, "the orphaned server is still running"
            time.sleep(0.2)
        assert "the launcher (pid" in log.read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        if log is not None:
            shutil.rmtree(log.parent, ignore_errors=True)


def test_a_server_that_fails_to_start_says_why(triton_python: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    server = TritonServer([TritonModelSpec(name="broken", onnx=broken)], python=triton_python,
                          startup_timeout=60)
    with pytest.raises(RuntimeError, match=r"exited with status \d+ before it was ready") as err:
        server.start()
    assert "broken.onnx" in str(err.value) or "INVALID_PROTOBUF" in str(err.value)
    assert not server.is_running()
    server.stop()


def test_stop_is_clean_and_idempotent(triton_python: Path) -> None:
    port = free_port()
    server = TritonServer([TritonModelSpec(name="c", onnx=CLASSIFIER, max_batch_size=1)],
                          python=triton_python, grpc_port=port)
    assert server.url == f"127.0.0.1:{port}"
    with server:
        log = server.log_path
        pid = server.pid
        assert pid is not None
    assert not server.is_running() and not log.parent.exists()
    assert live_members(pid) == []  # nothing of its process group runs on
    server.stop()


def live_members(group: int, wait_s: float = 10.0) -> list[int]:
    """Processes of process group ``group`` that are not zombies, once they have had
    ``wait_s`` to die: a killed child is reparented to PID 1, which may reap it late, and a
    zombie still answers ``killpg(group, 0)``."""
    deadline = time.monotonic() + wait_s
    while True:
        live = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended while we looked
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def test_find_triton_python_says_how_to_make_the_venv(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv(launch.PYTHON_ENV, str(tmp_path / "nowhere" / "python"))
    with pytest.raises(UserError) as err:
        find_triton_python()
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert "EDGE_RUNTIME_TRITON_PYTHON=" in message and "nowhere" in message
    assert "make triton-env" in message and "python3.11" in message
    monkeypatch.delenv(launch.PYTHON_ENV)
    monkeypatch.setattr(launch, "DEFAULT_VENV", "no-such-venv")
    with pytest.raises(UserError, match="no Triton venv: run `make triton-env`"):
        find_triton_python()


def test_model_specs_are_checked() -> None:
    with pytest.raises(UserError, match="Triton takes letters"):
        TritonModelSpec(name="a b", onnx=CLASSIFIER)
    with pytest.raises(UserError, match="max_batch_size must be at least 1"):
        TritonModelSpec(name="a", onnx=CLASSIFIER, max_batch_size=0)
    with pytest.raises(UserError, match="preferred batch sizes"):
        TritonModelSpec(name="a", onnx=CLASSIFIER, max_batch_size=4, preferred_batch_sizes=(8,))
    with pytest.raises(UserError, match="unique"):
        TritonServer([TritonModelSpec(name="a", onnx=CLASSIFIER)] * 2, python="/bin/false")
    entry = TritonModelSpec(name="a", onnx=CLASSIFIER, preferred_batch_sizes=(4, 8)).to_json()
    assert entry == {"name": "a", "onnx": str(CLASSIFIER.resolve()), "max_batch_size": 8,
                     "max_queue_delay_us": 2000, "instances": 1, "cpu_threads": 1,
                     "preferred_batch_sizes": [4, 8]}
