"""A corpus of bad input, each through the real entry point (``main([...])``, in-process).

The rule every case checks: a user's mistake is ONE line on stderr that names the file (the
path given, or the flag), exit status 2, no traceback anywhere, and an output file that was
there before (``--json OUT``) is left exactly as it was. Bad *frames* (an unreadable image in
an ``image_dir``) are not mistakes of this kind: the run completes and counts them
(:func:`test_bad_frames_in_an_image_dir_are_counted_and_skipped`).
"""

from __future__ import annotations

import json
import struct
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import helper

from edge_runtime.cli.main import main
from tests.conftest import REPO, tiny_classifier

SENTINEL = '{"written": "before the command ran"}\n'

RECIPE = """
    onnx: tiny.onnx
    precision: fp16
    backend: mock
"""

PIPELINES = """
    device: jetson-agx-orin-32gb
    power_mode: 40W
    power_schedule:
      - {at_s: 0.1, mode: 15W}
    diagnostics: {warn_rate_fraction: 0.9}
    pipelines:
      - name: cam
        source:
          type: synthetic_camera
          width: 64
          height: 48
          fps: 20
          scene: single
        engine: tiny.yaml
        postprocess: {type: classification, top_k: 2}
        rate_hz: 20
        sinks:
          - {type: log, every: 10}
"""

#: The source of the valid set, for cases that swap in another source.
CAMERA = ("type: synthetic_camera\n      width: 64\n      height: 48\n"
          "      fps: 20\n      scene: single\n")


@dataclass
class Workspace:
    """A directory with a tiny model, its recipe, a valid pipeline set and a pre-existing
    ``out.json``; cases write their broken variants next to them."""

    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out.json"

    @property
    def onnx(self) -> Path:
        return self.root / "tiny.onnx"

    def text(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def data(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def pipelines(self, old: str = "", new: str = "", name: str = "bad_set.yaml") -> Path:
        """The valid set with ``old`` replaced by ``new`` (which must change it)."""
        text = textwrap.dedent(PIPELINES)
        if old:
            assert old in text, old
            text = text.replace(old, new)
        return self.text(name, text)

    def recipe(self, old: str = "", new: str = "", name: str = "bad_recipe.yaml") -> Path:
        text = textwrap.dedent(RECIPE)
        if old:
            assert old in text, old
            text = text.replace(old, new)
        return self.text(name, text)

    def set_using(self, recipe: Path) -> Path:
        """The valid set, running ``recipe`` instead of tiny.yaml."""
        return self.pipelines("engine: tiny.yaml", f"engine: {recipe.name}", "set_using.yaml")

    def run(self, pipelines: Path, *flags: str) -> list[str]:
        return ["run", str(pipelines), "--clock", "sim", "--duration", "0.3", "--cache-dir",
                str(self.root / "cache"), "--json", str(self.out), *flags]

    def build(self, *args: str) -> list[str]:
        return ["build", *args, "--cache-dir", str(self.root / "cache"), "--json", str(self.out)]

    def inspect(self, target: Path) -> list[str]:
        return ["inspect", str(target), "--json", str(self.out)]


#: A case makes its bad input and returns the argv and what the line must name.
Make = Callable[[Workspace], tuple[list[str], str]]


@dataclass(frozen=True)
class Case:
    id: str
    make: Make
    fragment: str = ""
    """Text the one line must also contain (what is wrong)."""


CASES: list[Case] = []


def case(fragment: str = "") -> Callable[[Make], Make]:
    def register(make: Make) -> Make:
        CASES.append(Case(make.__name__.replace("_", "-"), make, fragment))
        return make

    return register


# --- YAML that is not YAML, or not a config -------------------------------------------------


def _set_text(ws: Workspace, name: str, text: str) -> tuple[list[str], str]:
    path = ws.text(name, text)
    return ws.run(path), str(path)


@case("YAML syntax error")
def yaml_syntax_error(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "syntax.yaml", "pipelines: [\n  {name: cam\n")


@case("not UTF-8")
def yaml_not_utf8(ws: Workspace) -> tuple[list[str], str]:
    path = ws.data("latin1.yaml", "device: jetson\npipelines: caf\xe9\n".encode("latin-1"))
    return ws.run(path), str(path)


@case("duplicate key 'device'")
def yaml_duplicate_top_key(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("power_mode: 40W", "device: jetson-orin-nx-16gb")
    return ws.run(path), str(path)


@case("duplicate key 'fps'")
def yaml_duplicate_nested_key(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("      fps: 20\n", "      fps: 20\n      fps: 30\n")
    return ws.run(path), str(path)


@case("nested")
def yaml_deep_open_sequences(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "deep.yaml", "pipelines: " + "[" * 10000 + "\n")


@case("nested")
def yaml_deep_open_mappings(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "deep_maps.yaml", "pipelines: " + "{a: " * 10000 + "\n")


@case("nested")
def yaml_deep_closed_sequences(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "deep_closed.yaml", "device: " + "[" * 900 + "]" * 900 + "\n")


@case("too large")
def yaml_huge_file(ws: Workspace) -> tuple[list[str], str]:
    line = "# " + "x" * 1021 + "\n"
    padding = line * (30 * 1024)  # 30 MiB of comments after a valid set
    return _set_text(ws, "huge.yaml", textwrap.dedent(PIPELINES) + padding)


@case("alias")
def yaml_alias_bomb(ws: Workspace) -> tuple[list[str], str]:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return _set_text(ws, "laughs.yaml", "\n".join(rows) + "\npipelines: *a8\n")


@case("!!python/object/apply:os.getcwd")
def yaml_python_tag_on_a_list(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "tag.yaml", "device: !!python/object/apply:os.getcwd []\n"
                                     "pipelines: []\n")


@case("!!python/name:os.system")
def yaml_python_tag_on_a_value(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "tag_value.yaml", "device: !!python/name:os.system ''\n"
                                           "pipelines: []\n")


@case("merge keys")
def yaml_merge_key(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("diagnostics: {warn_rate_fraction: 0.9}",
                        "base: &base {warn_rate_fraction: 0.9}\ndiagnostics: {<<: *base}")
    return ws.run(path), str(path)


@case("nested")
def yaml_anchor_inside_itself(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "recursive.yaml", "pipelines: &loop [*loop]\n")


@case("!!int")
def yaml_bad_int_tag(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("power_mode: 40W", "power_mode: !!int forty")
    return ws.run(path), str(path)


@case("!!timestamp")
def yaml_bad_timestamp_tag(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("power_mode: 40W", "power_mode: !!timestamp soon")
    return ws.run(path), str(path)


@case("key")
def yaml_list_as_a_key(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "list_key.yaml", "? [device, power_mode]\n: jetson\npipelines: []\n")


@case("another document")
def yaml_two_documents(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "two_docs.yaml", textwrap.dedent(PIPELINES) + "---\ndevice: x\n")


@case("expected a mapping")
def yaml_top_level_list(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "list.yaml", "- name: cam\n- name: other\n")


@case("missing required key 'pipelines'")
def yaml_empty_file(ws: Workspace) -> tuple[list[str], str]:
    return _set_text(ws, "empty.yaml", "")


@case("unknown key")
def yaml_newline_in_a_key(ws: Workspace) -> tuple[list[str], str]:
    path = ws.pipelines("power_mode: 40W", '"power\\nmode": 40W')
    return ws.run(path), str(path)


# --- wrong types, at every level --------------------------------------------------------------


def _set_with(old: str, new: str) -> Make:
    def make(ws: Workspace) -> tuple[list[str], str]:
        path = ws.pipelines(old, new)
        return ws.run(path), str(path)

    return make


def _recipe_with(old: str, new: str) -> Make:
    """A recipe mistake, found through the set that uses it: the line names the recipe."""
    def make(ws: Workspace) -> tuple[list[str], str]:
        recipe = ws.recipe(old, new)
        return ws.run(ws.set_using(recipe)), str(recipe)

    return make


SET_MISTAKES = [
    ("type-top-pipelines", "pipelines:\n  - name: cam", "pipelines: 5\nx:\n  - name: cam",
     "pipelines"),
    ("type-top-power-mode", "power_mode: 40W", "power_mode: [40W]", "power_mode"),
    ("type-top-device", "device: jetson-agx-orin-32gb", "device: {name: orin}", "device"),
    ("type-pipeline-rate", "rate_hz: 20", "rate_hz: fast", "rate_hz"),
    ("type-pipeline-priority", "rate_hz: 20", "rate_hz: 20\n    priority: urgent", "priority"),
    ("type-pipeline-not-a-mapping", "  - name: cam\n", "  - cam\n  - name: cam\n",
     "pipelines[0]"),
    ("type-source-width", "width: 64", "width: [64, 48]", "source.width"),
    ("type-source-tag", "type: synthetic_camera", "type: webcam", "unknown type 'webcam'"),
    ("type-sink-every", "every: 10", "every: often", "sinks[0].every"),
    ("type-sink-missing-path", "{type: log, every: 10}", "{type: jsonl}",
     "missing required key 'path'"),
    ("type-schedule-at", "at_s: 0.1", "at_s: soon", "power_schedule[0].at_s"),
    ("type-schedule-not-a-list", "power_schedule:\n  - {at_s: 0.1, mode: 15W}",
     "power_schedule: 15W", "power_schedule"),
    ("type-schedule-unknown-mode", "mode: 15W}", "mode: 12W}", "unknown power mode '12W'"),
    ("type-diagnostics", "warn_rate_fraction: 0.9", "warn_rate_fraction: 2", "diagnostics"),
    ("value-infinite-rate", "rate_hz: 20", "rate_hz: .inf", "rate_hz"),
    ("value-nan-deadline", "rate_hz: 20", "rate_hz: 20\n    deadline_ms: .nan", "deadline_ms"),
    ("unknown-key-top", "power_mode: 40W", "power_mode: 40W\npower_mod: 15W",
     "did you mean 'power_mode'?"),
    ("unknown-key-pipeline", "rate_hz: 20", "rate_hz: 20\n    rate: 3", "unknown key 'rate'"),
    ("unknown-key-source", "fps: 20", "fsp: 20", "did you mean 'fps'?"),
    ("unknown-key-sink", "{type: log, every: 10}", "{type: jsonl, path: o.jsonl, mode: w}",
     "unknown key 'mode'"),
    ("unknown-key-schedule", "{at_s: 0.1, mode: 15W}", "{at_s: 0.1, mode: 15W, ramp_s: 2}",
     "unknown key 'ramp_s'"),
    ("unknown-key-postprocess", "top_k: 2}", "topk: 2}", "did you mean 'top_k'?"),
    ("unknown-key-diagnostics", "warn_rate_fraction: 0.9", "warn_rate: 0.9",
     "unknown key 'warn_rate'"),
    ("unknown-key-engine", "engine: tiny.yaml", "engine: {recipe: tiny.yaml, outputs: x}",
     "unknown key 'outputs'"),
    ("missing-recipe", "engine: tiny.yaml", "engine: nowhere.yaml", "engine recipe not found"),
    ("value-resize-zero", "rate_hz: 20", "rate_hz: 20\n    preprocess: {resize: [0, 32]}",
     "positive height and width"),
    ("value-seed-negative", "scene: single", "scene: single\n      seed: -5",
     "pipelines[0].source.seed"),
    # stages that do not fit the engine (tiny.onnx: image float32[batch x 3 x 32 x 32] ->
    # logits [batch x 4]), refused before the build at the pipeline's key
    ("fit-preprocess-input", "rate_hz: 20", "rate_hz: 20\n    preprocess: {input: pixels}",
     "pipelines[0].preprocess.input: the engine has no input 'pixels'"),
    ("fit-preprocess-layout", "rate_hz: 20", "rate_hz: 20\n    preprocess: {layout: nhwc}",
     "set layout: nchw"),
    ("fit-preprocess-dtype", "rate_hz: 20", "rate_hz: 20\n    preprocess: {dtype: uint8}",
     "set dtype: float32"),
    ("fit-preprocess-resize", "rate_hz: 20", "rate_hz: 20\n    preprocess: {resize: [64, 64]}",
     "set resize: [32, 32]"),
    ("fit-postprocess-output", "top_k: 2}", "top_k: 2, output: scores}",
     "pipelines[0].postprocess.output: the engine has no output 'scores'"),
    ("fit-postprocess-detection-on-a-classifier", "{type: classification, top_k: 2}",
     "{type: detection}", "pipelines[0].postprocess.type: detection decodes"),
]

RECIPE_MISTAKES = [
    ("recipe-type-precision", "precision: fp16", "precision: fp8", "precision"),
    ("recipe-type-shape", "backend: mock", "backend: mock\ninputs: {image: {shape: [a, b]}}",
     "inputs.image.shape[0]"),
    ("recipe-type-batches", "backend: mock", "backend: mock\ncalibration: {batches: -1}",
     "calibration.batches"),
    ("recipe-unknown-key-top", "precision: fp16", "precison: fp16",
     "did you mean 'precision'?"),
    ("recipe-unknown-key-calibration", "backend: mock",
     "backend: mock\ncalibration: {batchs: 4}", "did you mean 'batches'?"),
    ("recipe-unknown-key-data-source", "backend: mock",
     "backend: mock\ncalibration:\n  data:\n    source: {type: synthetic_camera, seeds: 3}",
     "did you mean 'seed'?"),
    ("recipe-unknown-key-target", "backend: mock", "backend: mock\ntarget: {dla: 0}",
     "unknown key 'dla'"),
    ("recipe-missing-model", "onnx: tiny.onnx", "onnx: models/missing.onnx",
     "ONNX file not found"),
    ("recipe-syntax-error", "precision: fp16", "precision: [fp16", "YAML syntax error"),
]

for _id, _old, _new, _fragment in SET_MISTAKES:
    CASES.append(Case(_id, _set_with(_old, _new), _fragment))
for _id, _old, _new, _fragment in RECIPE_MISTAKES:
    CASES.append(Case(_id, _recipe_with(_old, _new), _fragment))


@case("unknown key 'tdp_w'")
def unknown_key_power_profile(ws: Workspace) -> tuple[list[str], str]:
    """A device given as a profile YAML: a mistake in it names the profile."""
    text = (REPO / "power" / "jetson-agx-orin-32gb.yaml").read_text(encoding="utf-8")
    assert "{id: 0," in text
    profile = ws.text("my-orin.yaml", text.replace("{id: 0,", "{id: 0, tdp_w: 7,", 1))
    path = ws.pipelines("device: jetson-agx-orin-32gb", f"device: {profile}")
    return ws.run(path), str(profile)


@case("is a directory")
def sink_path_is_a_directory(ws: Workspace) -> tuple[list[str], str]:
    """Refused when the sink opens, not when the finished recording's rename fails."""
    directory = ws.root / "recordings"
    directory.mkdir()
    path = ws.pipelines("{type: log, every: 10}", f"{{type: jsonl, path: {directory}}}")
    return ws.run(path), str(directory)


@case("not an ONNX model")
def recipe_names_a_garbage_model(ws: Workspace) -> tuple[list[str], str]:
    model = ws.data("garbage.onnx", bytes(range(256)) * 8)
    recipe = ws.recipe("onnx: tiny.onnx", "onnx: garbage.onnx")
    return ws.run(ws.set_using(recipe)), str(model)


# --- ONNX given to build --onnx and inspect -------------------------------------------------


def _garbage(ws: Workspace) -> Path:
    return ws.data("garbage.onnx", bytes(range(256)) * 8)


def _truncated(ws: Workspace) -> Path:
    return ws.data("truncated.onnx", ws.onnx.read_bytes()[:200])


def _empty(ws: Workspace) -> Path:
    return ws.data("empty.onnx", b"")


def _no_graph(ws: Workspace) -> Path:
    path = ws.root / "no_graph.onnx"
    onnx.save(helper.make_model(helper.make_graph([], "empty", [], [])), str(path))
    return path


def _unsupported_op(ws: Workspace) -> Path:
    model = tiny_classifier()
    relu = next(node for node in model.graph.node if node.op_type == "Relu")
    relu.op_type = "Rellu"
    path = ws.root / "unsupported_op.onnx"
    onnx.save(model, str(path))
    return path


def _external_data_missing(ws: Workspace) -> Path:
    path = ws.root / "external.onnx"
    onnx.save(tiny_classifier(), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location="external.onnx.data", size_threshold=0)
    (ws.root / "external.onnx.data").unlink()
    return path


MODELS: dict[str, tuple[Callable[[Workspace], Path], str]] = {
    "garbage": (_garbage, "not an ONNX model"),
    "truncated": (_truncated, "not an ONNX model"),
    "empty": (_empty, "the ONNX file is empty (0 bytes)"),
    "no-graph": (_no_graph, "no graph"),
    "unsupported-op": (_unsupported_op, "Rellu"),
    "external-data-missing": (_external_data_missing, "external.onnx.data"),
}


def _model_case(make_model: Callable[[Workspace], Path], command: str) -> Make:
    def make(ws: Workspace) -> tuple[list[str], str]:
        path = make_model(ws)
        argv = ws.build("--onnx", str(path)) if command == "build" else ws.inspect(path)
        return argv, str(path)

    return make


for _name, (_make_model, _fragment) in MODELS.items():
    for _command in ("build", "inspect"):
        CASES.append(Case(f"onnx-{_name}-{_command}", _model_case(_make_model, _command),
                          _fragment))


@case("file not found")
def inspect_a_missing_model(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "absent.onnx"
    return ws.inspect(path), str(path)


# --- npz/npy data: calibration tensors and frames -------------------------------------------


def _int8_with_data(ws: Workspace, path: Path) -> list[str]:
    return ws.build("--onnx", str(ws.onnx), "--precision", "int8", "--data", str(path))


def _npz(ws: Workspace, name: str, **arrays: npt.NDArray[Any]) -> Path:
    path = ws.root / name
    savez: Callable[..., None] = np.savez
    savez(path, **arrays)
    return path


@case("shape")
def npz_tensors_of_the_wrong_shape(ws: Workspace) -> tuple[list[str], str]:
    path = _npz(ws, "wrong_shape.npz", image=np.zeros((4, 3, 16, 16), np.float32))
    return _int8_with_data(ws, path), str(path)


@case("dtype")
def npz_tensors_of_the_wrong_dtype(ws: Workspace) -> tuple[list[str], str]:
    path = _npz(ws, "wrong_dtype.npz", image=np.full((2, 3, 32, 32), "px"))
    return _int8_with_data(ws, path), str(path)


@case("pickled")
def npz_of_pickled_objects(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "pickled.npz"
    objects = np.empty(2, dtype=object)
    objects[:] = [{"image": 1}, {"image": 2}]
    np.savez(path, image=objects)
    return _int8_with_data(ws, path), str(path)


@case("pickled")
def npy_of_pickled_objects(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "pickled.npy"
    objects = np.empty(3, dtype=object)
    objects[:] = [{"frame": 0}, [1, 2], "three"]
    np.save(path, objects, allow_pickle=True)
    return _int8_with_data(ws, path), str(path)


@case("no arrays")
def npz_with_no_arrays(ws: Workspace) -> tuple[list[str], str]:
    path = _npz(ws, "nothing.npz")
    return _int8_with_data(ws, path), str(path)


@case("no array 'frames'")
def npz_missing_key(ws: Workspace) -> tuple[list[str], str]:
    path = _npz(ws, "other.npz", pictures=np.zeros((2, 32, 32, 3), np.uint8))
    recipe = ws.recipe("precision: fp16\nbackend: mock",
                       "precision: int8\nbackend: mock\ncalibration:\n  data:\n    source: "
                       "{type: numpy, path: other.npz, key: frames}")
    return ws.build(str(recipe)), str(path)


@case(".npz archive")
def npz_that_is_not_a_zip(ws: Workspace) -> tuple[list[str], str]:
    path = ws.data("broken.npz", b"PK\x03\x04 this is no zip archive" * 10)
    return _int8_with_data(ws, path), str(path)


@case(".npy")
def npy_of_garbage_bytes(ws: Workspace) -> tuple[list[str], str]:
    path = ws.data("garbage.npy", bytes(range(256)) * 4)
    return _int8_with_data(ws, path), str(path)


@case(".npy")
def npy_truncated(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "whole.npy"
    np.save(path, np.zeros((8, 32, 32, 3), np.uint8))
    cut = ws.data("truncated.npy", path.read_bytes()[:1000])
    return _int8_with_data(ws, cut), str(cut)


@case("frames")
def npy_frames_of_the_wrong_shape(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "flat.npy"
    np.save(path, np.zeros((4, 5), np.uint8))
    return _int8_with_data(ws, path), str(path)


@case("must be numbers")
def npy_frames_of_text_in_a_run(ws: Workspace) -> tuple[list[str], str]:
    path = ws.root / "text_frames.npy"
    np.save(path, np.full((4, 8, 8, 3), "a"))
    pipelines = ws.pipelines(CAMERA, f"type: numpy\n      path: {path.name}\n"
                                     "      loop: false\n", "npy_set.yaml")
    return ws.run(pipelines), str(path)


# --- flags ------------------------------------------------------------------------------------


def _flags(*flags: str, names: str) -> Make:
    def make(ws: Workspace) -> tuple[list[str], str]:
        return ws.run(ws.pipelines(name="good_set.yaml"), *flags), names

    return make


FLAG_MISTAKES = [
    ("flag-power-unknown", ("--power", "99W"), "--power", "unknown power mode '99W'"),
    ("flag-duration-negative", ("--duration", "-1"), "--duration", "positive"),
    ("flag-duration-zero", ("--duration", "0"), "--duration", "positive"),
    ("flag-duration-infinite", ("--duration", "inf"), "--duration", "finite"),
    ("flag-duration-nan", ("--duration", "nan"), "--duration", "finite"),
    ("flag-switch-no-at", ("--switch", "15W"), "--switch", "MODE@SECONDS"),
    ("flag-switch-no-mode", ("--switch", "@10"), "--switch", "MODE@SECONDS"),
    ("flag-switch-not-seconds", ("--switch", "15W@soon"), "--switch", "not a number"),
    ("flag-switch-negative", ("--switch", "15W@-3"), "--switch", ">= 0"),
    ("flag-switch-nan", ("--switch", "15W@nan"), "--switch", "finite"),
    ("flag-switch-unknown-mode", ("--switch", "99W@0.1"), "--switch", "unknown power mode"),
    ("flag-duration-not-a-number", ("--duration", "abc"), "--duration", "invalid float value"),
    ("flag-unknown", ("--colour", "red"), "--colour", "unrecognized arguments"),
    ("flag-clock-choice", ("--clock", "ros"), "--clock", "invalid choice"),
]

for _id, _argv, _names, _fragment in FLAG_MISTAKES:
    CASES.append(Case(_id, _flags(*_argv, names=_names), _fragment))


@case("greater than or equal to 0")
def flag_max_drop_negative(ws: Workspace) -> tuple[list[str], str]:
    return ws.build("--onnx", str(ws.onnx), "--max-drop", "-1"), "--max-drop"


@case("unknown device 'jetson-tx9'")
def flag_device_unknown(ws: Workspace) -> tuple[list[str], str]:
    return ws.build("--onnx", str(ws.onnx), "--device", "jetson-tx9"), "--device"


@case("data not found")
def flag_data_missing(ws: Workspace) -> tuple[list[str], str]:
    return ws.build("--onnx", str(ws.onnx), "--data", str(ws.root / "nowhere")), "--data"


# --- the corpus -------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    onnx.save(tiny_classifier(), str(ws.onnx))
    ws.text("tiny.yaml", RECIPE)
    ws.out.write_text(SENTINEL, encoding="utf-8")
    return ws


def test_the_inputs_the_cases_break_are_valid(workspace: Workspace,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The control: unbroken, the set runs, the model builds and inspects (and each writes
    OUT), so every case below fails for its own mistake."""
    for argv in (workspace.run(workspace.pipelines(name="good_set.yaml")),
                 workspace.build("--onnx", str(workspace.onnx)), workspace.inspect(workspace.onnx)):
        workspace.out.write_text(SENTINEL, encoding="utf-8")
        assert main(argv) == 0, capsys.readouterr().err
        assert workspace.out.read_text(encoding="utf-8") != SENTINEL


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 34
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_the_file_and_exit_2(
        bad: Case, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    argv, names = bad.make(workspace)
    capsys.readouterr()
    try:
        status: object = main(argv)
    except SystemExit as usage:  # argparse's own mistakes (a flag's type, an unknown flag)
        status = usage.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert names in lines[0], lines[0]
    assert bad.fragment in lines[0], lines[0]
    assert status == 2, err
    assert workspace.out.read_text(encoding="utf-8") == SENTINEL


# --- bad frames: counted and skipped, never fatal -------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and carries almost none of them (a
    decompression bomb's header costs nothing to write)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# Pillow warns when it opens the 12000 x 12000 header; the source then refuses the frame.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_frames_in_an_image_dir_are_counted_and_skipped(
        workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    frames = workspace.root / "frames"
    frames.mkdir()
    good = 0
    for index in range(4):
        Image.new("RGB", (32, 32), (index * 40, 0, 0)).save(frames / f"good_{index}.png")
        np.save(frames / f"good_{index}.npy", np.full((32, 32, 3), index, np.uint8))
        good += 2
    bad = {
        "unreadable.png": b"\x89PNG but nothing else" * 8,
        "zero.png": b"",
        "zero.jpg": b"",
        "zero.npy": b"",
        "bomb.png": _png_header_only(40000, 40000),  # Pillow: DecompressionBombError
        "big.png": _png_header_only(12000, 12000),  # Pillow: only a warning, then decode
        "garbage.npy": bytes(range(256)),
    }
    for name, data in bad.items():
        (frames / name).write_bytes(data)
    objects = np.empty(1, dtype=object)
    objects[0] = {"not": "an image"}
    np.save(frames / "pickled.npy", objects, allow_pickle=True)
    bad_count = len(bad) + 1
    pipelines = workspace.pipelines(
        CAMERA, "type: image_dir\n      path: frames\n      loop: false\n",
        "frames_set.yaml")
    summary = workspace.root / "summary.json"
    status = main(["run", str(pipelines), "--clock", "sim", "--duration", "3", "--cache-dir",
                   str(workspace.root / "cache"), "--json", str(summary)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Traceback" not in out + err
    result = json.loads(summary.read_text(encoding="utf-8"))
    faults = result["faults"]["cam"]
    assert faults["bad_frames"] == bad_count, faults
    assert faults["errors"] == {} and faults["state"] != "failed", faults
    frames_done = sum(row["frames"] for row in result["pipelines"]["cam"].values())
    assert frames_done == good
