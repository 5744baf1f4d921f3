"""Property-based fuzz of the config loaders: whatever a file holds, loading it either gives a
loaded config or raises a :class:`UserError` whose text is ONE line naming a file; never any
other exception (a traceback would be a bug, by the rule of ``edge_runtime.errors``).

Inputs: random nested documents, mutations of a valid pipeline set and a valid recipe (a key
dropped, a value replaced by one of another type, an unknown key added), YAML-ish text, text
edits of the valid files, and random bytes.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.config.loading import load_pipeline_set, load_recipe
from edge_runtime.errors import UserError
from tests.conftest import tiny_classifier

RECIPE = textwrap.dedent("""
    onnx: tiny.onnx
    precision: int8
    backend: mock
    inputs:
      image: {shape: [1, 3, 32, 32]}
    calibration:
      method: percentile
      data:
        source: {type: synthetic_camera, width: 64, height: 48, scene: single, seed: 3}
        preprocess: {resize: [32, 32]}
      batches: 2
    evaluation:
      data: {source: {type: numpy, path: frames.npz, key: frames}}
      frames: 10
    target: {device: dla0, gpu_fallback: true}
    max_accuracy_drop: 1.5
""")

PIPELINES = textwrap.dedent("""
    device: jetson-agx-orin-32gb
    power_mode: 40W
    power_schedule:
      - {at_s: 1.0, mode: 15W}
      - {at_s: 2.5, mode: 0}
    diagnostics: {warn_rate_fraction: 0.9, error_rate_fraction: 0.5}
    pipelines:
      - name: cam
        source: {type: synthetic_camera, width: 64, height: 48, fps: 20, scene: single}
        preprocess: {resize: [32, 32], mean: [0.5, 0.5, 0.5], layout: nchw}
        engine: {recipe: tiny.yaml, mock_outputs: synthetic}
        postprocess: {type: classification, top_k: 2, labels: [a, b, c, d]}
        rate_hz: 20
        priority: high
        deadline_ms: 50
        sinks:
          - {type: jsonl, path: out/cam.jsonl}
          - {type: log, every: 10}
        faults: {max_consecutive_failures: 3, restart_backoff_s: 0.5}
      - name: files
        source: {type: image_dir, path: frames, loop: false}
        engine: tiny.yaml
        postprocess: {type: detection, conf_threshold: 0.3}
""")

BASE_SET: dict[str, Any] = yaml.safe_load(PIPELINES)
BASE_RECIPE: dict[str, Any] = yaml.safe_load(RECIPE)

#: Values of every YAML type, awkward ones included (NaN, huge ints, control characters).
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**30),
                                                                   max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | st.sampled_from(["", "fp16", "15W", "MAXN", "tiny.yaml",
                                                      "synthetic_camera", "..", "/", "~"]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10)
KEYS = st.text(max_size=10) | st.sampled_from(["type", "name", "path", "fps", "recipe", "mode"])

Path_ = tuple[str | int, ...]


def paths_in(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path of a nested document (the root included)."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths_in(value, (*prefix, index))
    return found


def node_at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with one to three random edits."""
    data: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths_in(data)))
        edit = draw(st.sampled_from(["drop", "replace", "add_key"]))
        if not path:
            data = draw(VALUES) if edit == "replace" else data
            continue
        parent = node_at(data, path[:-1])
        if edit == "drop":
            del parent[path[-1]]
        elif edit == "replace":
            parent[path[-1]] = draw(VALUES)
        else:
            target = node_at(data, path)
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(VALUES)
            else:
                parent[path[-1]] = {draw(KEYS): draw(VALUES)}
        if not isinstance(data, dict | list):
            break
    return data


def dumped(data: Any, flow: bool | None) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)


YAMLISH = st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!?|>'\"#%@ \n\t09.~<=")),
                  max_size=120)


@st.composite
def text_edit(draw: st.DrawFn, text: str) -> str:
    """``text`` with a slice cut out and a YAML-ish snippet put in, somewhere."""
    start = draw(st.integers(min_value=0, max_value=len(text)))
    end = draw(st.integers(min_value=start, max_value=min(len(text), start + 20)))
    return text[:start] + draw(YAMLISH) + text[end:]


def documents(base: dict[str, Any], base_text: str) -> st.SearchStrategy[bytes]:
    """Bytes of a file: mutated, random, YAML-ish, edited or just random bytes."""
    as_yaml = st.builds(dumped, mutated(base) | VALUES, st.sampled_from([None, True, False]))
    text = as_yaml | YAMLISH | text_edit(base_text)
    return text.map(lambda t: t.encode("utf-8")) | st.binary(max_size=200)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid recipe (and its model, frames) for the sets to name; module-scoped, as
    hypothesis runs many examples per test."""
    root = tmp_path_factory.mktemp("fuzz")
    onnx.save(tiny_classifier(), str(root / "tiny.onnx"))
    (root / "tiny.yaml").write_text(RECIPE, encoding="utf-8")
    (root / "frames").mkdir()
    return root


def check_loads_or_one_line(load: Callable[[Path], object], path: Path, root: Path) -> None:
    try:
        load(path)
    except UserError as exc:
        text = str(exc)
        assert len(text.splitlines()) == 1 and text.strip(), repr(text)
        assert exc.file is not None, text
        assert text.startswith(exc.file), text
        assert Path(exc.file).resolve().parent == root.resolve(), text


def test_the_bases_are_valid(workspace: Path) -> None:
    recipe = workspace / "tiny.yaml"
    assert load_recipe(recipe).precision.value == "int8"
    sets = workspace / "base_set.yaml"
    sets.write_text(PIPELINES, encoding="utf-8")
    assert [p.name for p in load_pipeline_set(sets).config.pipelines] == ["cam", "files"]


FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(data=documents(BASE_SET, PIPELINES))
def test_a_pipeline_set_loads_or_is_one_line_naming_the_file(data: bytes,
                                                             workspace: Path) -> None:
    path = workspace / "set.yaml"
    path.write_bytes(data)
    check_loads_or_one_line(load_pipeline_set, path, workspace)


@FUZZ
@given(data=documents(BASE_RECIPE, RECIPE))
def test_a_recipe_loads_or_is_one_line_naming_the_file(data: bytes, workspace: Path) -> None:
    path = workspace / "recipe.yaml"
    path.write_bytes(data)
    check_loads_or_one_line(load_recipe, path, workspace)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipe=documents(BASE_RECIPE, RECIPE))
def test_a_broken_recipe_named_by_a_valid_set_is_one_line_naming_the_recipe(
        recipe: bytes, workspace: Path) -> None:
    """The set is fine; the recipe it names is fuzzed: an error names the recipe."""
    (workspace / "fuzzed.yaml").write_bytes(recipe)
    path = workspace / "uses_fuzzed.yaml"
    path.write_text(PIPELINES.replace("tiny.yaml", "fuzzed.yaml"), encoding="utf-8")
    check_loads_or_one_line(load_pipeline_set, path, workspace)
