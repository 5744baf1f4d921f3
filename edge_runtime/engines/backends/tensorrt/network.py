"""From ONNX bytes to a configured TensorRT network: creation flags, parsing with per-node
errors, pinned layer precisions and the DLA placement report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from onnx import ModelProto

from edge_runtime.engines.artifact import Manifest
from edge_runtime.engines.backends.tensorrt.versions import TrtVersion
from edge_runtime.errors import UserError

if TYPE_CHECKING:
    import tensorrt

#: Key of the placement report in the manifest's ``backend_options`` (what the runner needs to
#: load the plan: a DLA plan must be deserialized with the runtime on the same DLA core).
PLACEMENT_KEY = "placement"


def network_flags(version: TrtVersion, *, strongly_typed: bool) -> int:
    """``create_network`` flags: ``EXPLICIT_BATCH`` before 10.0 (implicit batch is the default
    there, and ONNX needs explicit batch), ``STRONGLY_TYPED`` when the plan says so (10.0+)."""
    import tensorrt as trt

    flags = 0
    if version.needs_explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        if not version.has_strongly_typed_networks:
            raise ValueError(f"TensorRT {version.short} has no strongly typed networks")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def describe_parser_error(node: int, description: str, model: ModelProto) -> str:
    """``node 3 (conv_3, Conv): <description>``; the name comes from our own ONNX by index
    (``ParserError.node()`` exists in every supported release, its name accessors do not)."""
    text = " ".join(description.split())
    nodes = model.graph.node
    if 0 <= node < len(nodes):
        onnx_node = nodes[node]
        name = onnx_node.name or "unnamed"
        return f"node {node} ({name}, {onnx_node.op_type}): {text}"
    return text


def parse_onnx(network: tensorrt.INetworkDefinition, logger: tensorrt.ILogger,
               onnx_bytes: bytes, model: ModelProto, onnx_path: str) -> tensorrt.OnnxParser:
    """Parse the ONNX into ``network``; a UserError naming each failing node, in one line.

    Return the parser: it owns the weights the network points to, so it must outlive the
    build.
    """
    import tensorrt as trt

    parser = trt.OnnxParser(network, logger)
    ok = parser.parse(onnx_bytes, onnx_path)  # the path resolves external weight files
    if ok and parser.num_errors == 0:
        return parser
    errors = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        errors.append(describe_parser_error(error.node(), error.desc(), model))
    detail = "; ".join(errors) or "the parser gave no reason (see the TensorRT log)"
    raise UserError(f"TensorRT cannot parse {onnx_path}: {detail}", key="onnx")


#: How onnx-tensorrt names the helper layers it adds while importing a node (``castHelper``,
#: shape arithmetic): ``registerLayer(layer, "ONNXTRT_castHelper", nullptr)``, made unique as
#: ``ONNXTRT_castHelper_307``; they carry no node name.
HELPER_PREFIX = "ONNXTRT_"


def layers_of_nodes(layer_names: Iterable[str], node_names: Iterable[str],
                    wanted: Iterable[str]) -> dict[str, list[str]]:
    """The TensorRT layers each wanted ONNX node became.

    The ONNX parser names a node's first layer after the node and the others ``NAME_<n>``
    (onnx-tensorrt's ``generateUniqueName``); a ``NAME_<n>`` that is itself an ONNX node's
    name belongs to that node, not to ``NAME``. Helper layers (``ONNXTRT_*``) are added in
    the middle of a node's import, so a run of them sits next to that node's own layers; the
    parser keeps no record of which node, so a run goes to each wanted node it borders
    (pinning one cast too many costs a little speed, missing one costs the accuracy asked for).
    """
    found: dict[str, list[str]] = {name: [] for name in wanted}
    nodes = set(node_names) | set(found)
    layers = list(layer_names)
    owners = [_owner(layer, nodes) for layer in layers]
    for index, (layer, owner) in enumerate(zip(layers, owners, strict=True)):
        if owner in found:
            found[owner].append(layer)
        elif owner is None and layer.startswith(HELPER_PREFIX):
            for neighbour in _bordering_owners(layers, owners, index):
                if neighbour in found:
                    found[neighbour].append(layer)
    return found


def _owner(layer: str, nodes: set[str]) -> str | None:
    if layer in nodes:
        return layer
    match = re.fullmatch(r"(.+)_\d+", layer)
    return match.group(1) if match and match.group(1) in nodes else None


def _bordering_owners(layers: list[str], owners: list[str | None], index: int) -> set[str]:
    """The nodes owning the nearest non-helper layers before and after ``layers[index]``."""
    bordering: set[str] = set()
    for step in (-1, 1):
        at = index + step
        while 0 <= at < len(layers) and owners[at] is None and layers[at].startswith(
                HELPER_PREFIX):
            at += step
        owner = owners[at] if 0 <= at < len(layers) else None
        if owner is not None:
            bordering.add(owner)
    return bordering


def pin_precision(network: tensorrt.INetworkDefinition, model: ModelProto,
                  node_names: Sequence[str], dtype_name: str) -> tuple[list[str], list[str]]:
    """Pin the layers of ``node_names`` to ``dtype_name`` (``HALF`` / ``FLOAT``); return the
    pinned layer names and the nodes that matched no layer. Layers with a non-float output
    (shape arithmetic, indices) keep their types: forcing them would break the network. The
    caller sets ``OBEY_PRECISION_CONSTRAINTS`` (TensorRT 8.2 - 10.x)."""
    import tensorrt as trt

    dtype = getattr(trt.DataType, dtype_name)
    floats = {trt.DataType.FLOAT, trt.DataType.HALF}
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    by_node = layers_of_nodes([layer.name for layer in layers], [n.name for n in model.graph.node],
                              node_names)
    wanted = {name for names in by_node.values() for name in names}
    pinned = []
    for layer in layers:
        outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
        if layer.name not in wanted or any(out.dtype not in floats for out in outputs):
            continue
        layer.precision = dtype
        for index in range(layer.num_outputs):
            layer.set_output_type(index, dtype)
        pinned.append(layer.name)
    missing = [node for node, names in by_node.items() if not names]
    return pinned, missing


@dataclass(frozen=True)
class Placement:
    """Where an engine's layers run: the structured DLA report of a build."""

    lane: str
    dla_core: int | None = None
    total_layers: int = 0
    #: Layers the DLA cannot run, which TensorRT puts on the GPU (GPU_FALLBACK).
    gpu_layers: list[str] = field(default_factory=list)

    @property
    def dla_layers(self) -> int:
        return self.total_layers - len(self.gpu_layers)

    def notes(self, shown: int = 8) -> list[str]:
        if self.dla_core is None or not self.gpu_layers:
            return []
        names = ", ".join(self.gpu_layers[:shown])
        more = f" and {len(self.gpu_layers) - shown} more" if len(self.gpu_layers) > shown else ""
        return [f"{len(self.gpu_layers)} of {_layers(self.total_layers)} cannot run on DLA "
                f"core {self.dla_core} and fall back to the GPU: {names}{more}"]

    def to_options(self) -> dict[str, Any]:
        """The manifest's ``backend_options`` entry."""
        return {PLACEMENT_KEY: asdict(self)}

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Placement:
        raw = manifest.backend_options.get(PLACEMENT_KEY)
        if not isinstance(raw, dict):
            return cls(lane=manifest.lane)
        return cls(lane=str(raw["lane"]), dla_core=raw.get("dla_core"),
                   total_layers=int(raw.get("total_layers", 0)),
                   gpu_layers=[str(n) for n in raw.get("gpu_layers", [])])


def target_dla(config: tensorrt.IBuilderConfig, core: int, *, gpu_fallback: bool) -> None:
    """Make DLA ``core`` the default device (``GPU_FALLBACK`` if allowed), before placement."""
    import tensorrt as trt

    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    if gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def dla_placement(network: tensorrt.INetworkDefinition, config: tensorrt.IBuilderConfig,
                  core: int, *, gpu_fallback: bool) -> Placement:
    """Which layers DLA ``core`` can run (``config.can_run_on_DLA``, with the build's
    precision flags already set). Constants are folded into their consumers, never run, and
    are left out. Without GPU fallback any such layer is a UserError naming it."""
    import tensorrt as trt

    layers = [network.get_layer(i) for i in range(network.num_layers)]
    counted = [layer for layer in layers if layer.type != trt.LayerType.CONSTANT]
    on_gpu = [layer.name for layer in counted if not config.can_run_on_DLA(layer)]
    if on_gpu and not gpu_fallback:
        raise UserError(f"{_layers(len(on_gpu))} cannot run on DLA core {core} (first: "
                        f"{on_gpu[0]}) and target.gpu_fallback is off; allow the fallback or "
                        "target the GPU", key="target.gpu_fallback")
    lane = "gpu" if counted and len(on_gpu) == len(counted) else f"dla{core}"
    return Placement(lane=lane, dla_core=core, total_layers=len(counted), gpu_layers=on_gpu)


def _layers(count: int) -> str:
    return f"{count} layer" if count == 1 else f"{count} layers"
