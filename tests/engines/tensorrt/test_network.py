"""Network flags, parser errors per node, pinned layers, DLA placement, shape profiles and the
timing cache, against the fake TensorRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_runtime.config.recipe import EngineRecipe
from edge_runtime.engines.backends.tensorrt.logger import shared_logger
from edge_runtime.engines.backends.tensorrt.network import (
    Placement,
    describe_parser_error,
    dla_placement,
    layers_of_nodes,
    network_flags,
    parse_onnx,
    pin_precision,
    target_dla,
)
from edge_runtime.engines.backends.tensorrt.profiles import (
    ShapeRange,
    add_profile,
    profile_ranges,
)
from edge_runtime.engines.backends.tensorrt.timing_cache import (
    load_timing_cache,
    save_timing_cache,
    timing_cache_path,
)
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import TensorSpec
from tests.conftest import tiny_classifier
from tests.engines.tensorrt.conftest import InstallTrt


def parsed(trt: Any, model: Any = None) -> tuple[Any, Any, Any]:
    """(builder, network, config) with the tiny classifier parsed."""
    model = model if model is not None else named_model()
    logger = shared_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parse_onnx(network, logger, model.SerializeToString(), model, "tiny.onnx")
    return builder, network, builder.create_builder_config()


def named_model() -> Any:
    model = tiny_classifier()
    for index, node in enumerate(model.graph.node):
        node.name = f"{node.op_type.lower()}_{index}"
    return model


@pytest.mark.parametrize(("version", "strong", "flags"), [
    ("8.5.2.2", False, 1 << 0),   # EXPLICIT_BATCH, required before 10
    ("10.3.0.30", False, 0),      # always explicit batch; the flag is deprecated
    ("10.3.0.30", True, 1 << 1),  # STRONGLY_TYPED
    ("11.0.0", True, 1 << 1),
])
def test_network_flags(install_trt: InstallTrt, version: str, strong: bool, flags: int) -> None:
    install_trt(version)
    assert network_flags(TrtVersion.parse(version), strongly_typed=strong) == flags


def test_strong_typing_needs_10(install_trt: InstallTrt) -> None:
    install_trt("8.5.2.2")
    with pytest.raises(ValueError, match="no strongly typed networks"):
        network_flags(TrtVersion.parse("8.5.2.2"), strongly_typed=True)


def test_parser_errors_name_each_node_in_one_line(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30", unsupported_ops=frozenset({"Relu", "Gemm"}))
    with pytest.raises(UserError) as caught:
        parsed(trt)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("onnx: TensorRT cannot parse tiny.onnx: node 1 (relu_1, Relu): "
                              "No importer registered for op: Relu.")
    assert "; node 4 (gemm_4, Gemm): No importer" in message


def test_describe_parser_error_outside_the_graph() -> None:
    assert describe_parser_error(-1, "  Invalid\n graph ", tiny_classifier()) == "Invalid graph"


def test_layers_of_nodes_follow_the_parsers_naming() -> None:
    layers = ["conv", "conv_1", "conv_2", "gemm", "gemm_1", "relu"]
    nodes = ["conv", "conv_2", "gemm", "relu"]  # conv_2 is a node of its own
    assert layers_of_nodes(layers, nodes, ["conv", "gemm", "missing"]) == {
        "conv": ["conv", "conv_1"], "gemm": ["gemm", "gemm_1"], "missing": []}


def test_helper_layers_go_to_the_node_they_border() -> None:
    """onnx-tensorrt adds ONNXTRT_castHelper (and friends) while importing a node, with no
    node name: a pinned node's casts must be pinned with it."""
    layers = ["conv", "ONNXTRT_castHelper", "gemm", "ONNXTRT_castHelper_1",
              "ONNXTRT_ShapeHelper", "gemm_1", "relu", "ONNXTRT_castHelper_2", "softmax"]
    nodes = ["conv", "gemm", "relu", "softmax"]
    assert layers_of_nodes(layers, nodes, ["gemm"]) == {"gemm": [
        "ONNXTRT_castHelper", "gemm", "ONNXTRT_castHelper_1", "ONNXTRT_ShapeHelper", "gemm_1"]}
    assert layers_of_nodes(layers, nodes, ["softmax"]) == {"softmax": [
        "ONNXTRT_castHelper_2", "softmax"]}


def test_pin_precision(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30")
    _, network, _ = parsed(trt)
    pinned, missing = pin_precision(network, named_model(), ["gemm_4", "nope"], "HALF")
    assert pinned == ["gemm_4", "gemm_4_1"] and missing == ["nope"]
    gemm = network.layers[[layer.name for layer in network.layers].index("gemm_4")]
    assert gemm.precision == trt.DataType.HALF and gemm.output_types == {0: trt.DataType.HALF}


def test_dla_placement_reports_the_gpu_fallback(install_trt: InstallTrt) -> None:
    trt = install_trt("8.5.2.2")
    _, network, config = parsed(trt)
    config.set_flag(trt.BuilderFlag.FP16)
    target_dla(config, 1, gpu_fallback=True)
    assert config.default_device_type == trt.DeviceType.DLA and config.DLA_core == 1
    assert "GPU_FALLBACK" in config.flags
    placement = dla_placement(network, config, 1, gpu_fallback=True)
    assert placement == Placement("dla1", 1, 6, ["gemm_4"])  # constants left out
    assert placement.dla_layers == 5
    assert placement.notes() == ["1 of 6 layers cannot run on DLA core 1 and fall back to the "
                                 "GPU: gemm_4"]
    with pytest.raises(UserError, match=r"1 layer cannot run on DLA core 1 \(first: gemm_4\)"):
        dla_placement(network, config, 1, gpu_fallback=False)


def test_a_dla_without_reduced_precision_runs_nothing(install_trt: InstallTrt) -> None:
    trt = install_trt("8.5.2.2")
    _, network, config = parsed(trt)
    target_dla(config, 0, gpu_fallback=True)
    assert dla_placement(network, config, 0, gpu_fallback=True).lane == "gpu"


PROFILE_CASES: list[tuple[dict[str, Any], ShapeRange]] = [
    ({"inputs": {"image": {"shape": [2, 3, 32, 32]}}}, ShapeRange.fixed([2, 3, 32, 32])),
    ({"inputs": {"image": {"min": [1, 3, 32, 32], "opt": [2, 3, 32, 32],
                           "max": [8, 3, 32, 32]}}},
     ShapeRange((1, 3, 32, 32), (2, 3, 32, 32), (8, 3, 32, 32))),
    ({"max_batch": 4}, ShapeRange((1, 3, 32, 32), (1, 3, 32, 32), (4, 3, 32, 32))),
]


@pytest.mark.parametrize(("recipe", "expected"), PROFILE_CASES)
def test_profile_ranges(recipe: dict[str, Any], expected: ShapeRange) -> None:
    parsed_recipe = EngineRecipe.model_validate({"onnx": "m.onnx", **recipe})
    spec = TensorSpec(name="image", shape=["batch", 3, 32, 32], dtype="float32")
    assert profile_ranges(parsed_recipe, [spec]) == {"image": expected}


def test_profile_ranges_static_and_unresolvable() -> None:
    recipe = EngineRecipe.model_validate({"onnx": "m.onnx"})
    static = TensorSpec(name="x", shape=[1, 8], dtype="float32")
    assert profile_ranges(recipe, [static])["x"].is_fixed
    with pytest.raises(UserError, match=r"give inputs\.x\.shape"):
        profile_ranges(recipe, [TensorSpec(name="x", shape=[1, "n"], dtype="float32")])


def test_profile_covers_the_dynamic_network_inputs(install_trt: InstallTrt) -> None:
    trt = install_trt("10.3.0.30")
    builder, network, config = parsed(trt)
    ranges = {"image": ShapeRange((1, 3, 32, 32), (1, 3, 32, 32), (4, 3, 32, 32))}
    profile: Any = add_profile(builder, config, network, ranges)
    assert profile is not None and config.profiles == [profile]
    assert profile.shapes == {"image": ([1, 3, 32, 32], [1, 3, 32, 32], [4, 3, 32, 32])}
    network.inputs[0].shape = [1, 3, 32, 32]  # all static: no profile needed
    assert add_profile(builder, builder.create_builder_config(), network, ranges) is None


def test_timing_cache_is_per_version_and_device(tmp_path: Path) -> None:
    assert timing_cache_path(tmp_path, "10.3.0.30", "Orin sm87").name == \
        "timing-trt10.3.0.30-orin-sm87.cache"


def test_timing_cache_load_and_save(install_trt: InstallTrt, tmp_path: Path) -> None:
    trt = install_trt("10.3.0.30")
    path = tmp_path / "work" / "timing.cache"
    config = trt.Builder(None).create_builder_config()
    load_timing_cache(config, path)  # none yet: an empty cache that the build fills
    assert config.loaded_timing_cache == b""
    assert save_timing_cache(config, path) == len(path.read_bytes())
    assert path.read_bytes() == b"|build0"
    again = trt.Builder(None).create_builder_config()
    load_timing_cache(again, path)
    assert again.loaded_timing_cache == b"|build0"
    assert not list(path.parent.glob("*.tmp"))  # written atomically


def test_a_rejected_timing_cache_is_replaced(install_trt: InstallTrt, tmp_path: Path) -> None:
    trt = install_trt("10.3.0.30")
    path = tmp_path / "timing.cache"
    path.write_bytes(b"OTHER-GPU timings")
    config = trt.Builder(None).create_builder_config()
    load_timing_cache(config, path)
    assert config.loaded_timing_cache == b""
