"""The lifecycle table, and one Runtime driven through it with pushed frames."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import LifecycleError, Output, State
from edge_runtime.runtime.lifecycle import TRANSITIONS, Transition, next_state
from tests.runtime.conftest import MakeRuntime

EXTERNAL = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    pipelines:
      - name: cam
        source: {type: external}
        engine: tiny32.yaml
        postprocess: {type: classification, top_k: 1}
        priority: critical
        deadline_ms: 33
"""


@pytest.fixture
def external_set(write: Callable[[str, str], Path], tiny_onnx: Path) -> Path:
    del tiny_onnx
    # fp32: an fp16 build runs the accuracy gate, which needs frames an external source lacks
    write("tiny32.yaml", "onnx: tiny.onnx\nprecision: fp32\nmock: {outputs: onnxruntime}\n")
    return write("external.yaml", EXTERNAL)


def test_every_pair_not_in_the_table_raises_and_changes_nothing() -> None:
    for state in State:
        for transition in Transition:
            if (state, transition) in TRANSITIONS:
                assert next_state(state, transition) is TRANSITIONS[(state, transition)]
            else:
                with pytest.raises(LifecycleError, match=transition.value):
                    next_state(state, transition)
    # shutdown is allowed from every state but finalized
    assert {s for (s, t) in TRANSITIONS if t is Transition.SHUTDOWN} == \
        set(State) - {State.FINALIZED}


def test_an_illegal_transition_on_a_runtime_leaves_its_state(make_runtime: MakeRuntime,
                                                             external_set: Path) -> None:
    runtime = make_runtime(external_set)
    with pytest.raises(LifecycleError):
        runtime.activate()
    assert runtime.state is State.UNCONFIGURED
    runtime.configure()
    with pytest.raises(LifecycleError):
        runtime.configure()
    with pytest.raises(LifecycleError):
        runtime.deactivate()
    assert runtime.state.value == "inactive"
    runtime.shutdown()
    with pytest.raises(LifecycleError):
        runtime.shutdown()
    assert runtime.state.value == "finalized"


def test_leaving_a_with_block_shuts_the_runtime_down(make_runtime: MakeRuntime,
                                                      external_set: Path) -> None:
    with make_runtime(external_set) as runtime:
        runtime.configure()
        runtime.activate()
    assert runtime.state.value == "finalized"


def push_frames(runtime_push: Callable[..., bool], count: int, first_stamp: int,
                run: Callable[[int], None]) -> None:
    """Push like a camera slower than the engine: each frame once the previous is out (a
    faster host would see its older frames replaced, which another test covers)."""
    rng = np.random.default_rng(first_stamp)
    for i in range(count):
        image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        assert not runtime_push("cam", image, stamp=float(first_stamp + i),
                                frame_id=f"f{first_stamp + i}")
        run(i + 1)


@pytest.mark.parametrize("clock", ["sim", "wall"])
def test_one_runtime_through_its_whole_life_with_pushed_frames(
        make_runtime: MakeRuntime, external_set: Path, clock: str) -> None:
    runtime = make_runtime(external_set, clock=clock)
    outputs: list[Output] = []
    got = threading.Condition()

    def collect(output: Output) -> None:
        with got:
            outputs.append(output)
            got.notify_all()

    runtime.subscribe(collect, queue_size=1000)
    first = runtime.configure()
    assert [e.cache_hit for e in first] == [False]

    def wait_for(count: int) -> None:
        if clock == "sim":
            runtime.run_for(0.01)
        with got:
            assert got.wait_for(lambda: len(outputs) >= count, timeout=30.0), len(outputs)

    runtime.activate()
    push_frames(runtime.push, 200, 1000, wait_for)
    first_run = runtime.deactivate()
    assert runtime.state is State.INACTIVE
    runtime.activate()
    push_frames(runtime.push, 200, 5000, lambda n: wait_for(200 + n))
    runtime.deactivate()
    runtime.cleanup()
    assert runtime.state.value == "unconfigured"
    again = runtime.configure()
    assert [e.cache_hit for e in again] == [True]  # built once, cache hits after
    runtime.activate()
    push_frames(runtime.push, 5, 9000, lambda n: wait_for(400 + n))
    runtime.shutdown()
    stamps = [o.stamp for o in outputs]
    assert stamps == [float(1000 + i) for i in range(200)] + \
        [float(5000 + i) for i in range(200)] + [float(9000 + i) for i in range(5)]
    assert [o.frame_id for o in outputs[:2]] == ["f1000", "f1001"]
    assert all(o.pipeline == "cam" and o.result.to_record()["labels"] for o in outputs)
    assert first_run.pipelines["cam"]["40W"]["frames"] == 200


def test_push_is_refused_unless_active_and_for_an_external_pipeline(
        make_runtime: MakeRuntime, external_set: Path, write: Callable[[str, str], Path]
        ) -> None:
    runtime = make_runtime(external_set)
    runtime.configure()
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(RuntimeError, match="not active"):
        runtime.push("cam", image)
    runtime.activate()
    with pytest.raises(ValueError, match="does not take pushed frames"):
        runtime.push("nope", image)
    assert runtime.push("cam", image) is False
    assert runtime.push("cam", image) is True  # replaced the waiting one: a drop
    runtime.run_for(0.01)
    summary = runtime.deactivate()
    row = summary.pipelines["cam"]["40W"]
    assert (row["frames"], row["drops"]) == (1, 1)


def test_pushed_frames_of_the_wrong_shape_are_bad_frames_not_fatal(
        make_runtime: MakeRuntime, external_set: Path) -> None:
    runtime = make_runtime(external_set)
    runtime.configure()
    runtime.activate()
    for image in (np.zeros((8, 8, 2), np.uint8), np.zeros((0, 8, 3), np.uint8),
                  np.array([["a"]]), np.zeros((8, 8, 3), np.uint8)):
        runtime.push("cam", image)
        runtime.run_for(0.01)
    status = runtime.status().pipelines["cam"]
    assert status.bad_frames == 3 and status.frames == 1 and status.state == "running"


def test_the_documented_host_program_runs() -> None:
    """docs/api.md's example, as a user would run it: a script with no main guard."""
    import subprocess
    import sys

    from tests.conftest import REPO

    example = REPO / "docs" / "examples"
    assert len((example / "host.py").read_text().splitlines()) <= 30
    done = subprocess.run([sys.executable, str(example / "host.py"), str(example / "host.yaml")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert sum(line.startswith("camera ") for line in lines) >= 55  # one output per push
    assert "frame-59" in done.stdout and "state='running'" in lines[-1]


def test_a_recipe_gated_on_pipeline_frames_cannot_serve_pushed_frames(
        make_runtime: MakeRuntime, write: Callable[[str, str], Path], tiny_recipe: Path) -> None:
    from edge_runtime.errors import UserError

    del tiny_recipe  # fp16, calibrated and gated on its pipeline's frames by default
    path = write("pushed.yaml", EXTERNAL.replace("tiny32.yaml", "tiny.yaml"))
    runtime = make_runtime(path)
    with pytest.raises(UserError) as caught:
        runtime.configure()
    assert str(caught.value).startswith(f"{path}:5: pipelines[0].source: pipeline 'cam' takes "
                                        "pushed frames")
    assert runtime.state.value == "unconfigured"
