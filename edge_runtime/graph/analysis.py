"""Static analysis of an ONNX graph: shapes, per-layer MACs and tensor traffic.

The simulated Jetson prices an engine from this profile, so it has to be computed the way an
engine executes: TensorRT fuses a convolution or matrix product with the element-wise ops that
follow it (bias, batch-norm, activation, residual add) into one kernel, so a fused op adds no
layer launch and no round trip through memory. Counts are in elements, not bytes: the engine's
precision decides bytes per element.

SiLU, which exporters write as ``x * Sigmoid(x)`` (a Sigmoid and a Mul that both read the
convolution's output), fuses as well: TensorRT recognises the pair as one pointwise activation
and folds it into the convolution's epilogue, like a Relu.

Only what shape inference can resolve is counted; ops inside control-flow subgraphs (If, Loop,
Scan) are not, and the profile says so (``uncounted_ops``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import ModelProto, NodeProto, shape_inference

from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import TensorSpec, spec_from_value_info

Shape = tuple[int, ...]

#: Ops TensorRT folds into the preceding compute kernel when it is their only producer.
FUSABLE_OPS = frozenset({
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu",
    "Softplus", "Mish", "Gelu", "PRelu", "BatchNormalization", "Add", "Mul", "Sub", "Div",
    "QuantizeLinear", "DequantizeLinear", "Identity", "Cast",
})
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN"})
#: Ops that only reinterpret a tensor and cost nothing at run time.
FREE_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Constant",
                      "Identity", "ConstantOfShape"})
CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})


class UnresolvedShapeError(ValueError):
    """An input has a dynamic dimension and no shape was given for it."""

    def __init__(self, input_name: str, dims: Sequence[int | str]) -> None:
        super().__init__(f"input '{input_name}' has dynamic dimensions {list(dims)}")
        self.input_name = input_name
        self.dims = list(dims)


@dataclass(frozen=True)
class LayerCost:
    """One engine layer (a compute op plus what fuses into it, or a standalone op)."""

    name: str
    op_type: str
    macs: int
    input_elements: int
    output_elements: int
    weight_elements: int
    fused: tuple[str, ...] = ()
    sparse: bool = False
    """The layer's weights are 2:4-sparse (TensorRT runs it on sparse tensor-core kernels)."""
    output_channels: int = 0
    """Output channels of a compute layer (a convolution's filters, a matrix product's last
    dimension); 0 when unknown or not a compute layer. With ``output_elements`` it gives the
    layer's shape as a GEMM: ``output_channels`` columns by ``output_elements /
    output_channels`` rows (output positions times batch)."""

    @property
    def activation_elements(self) -> int:
        return self.input_elements + self.output_elements

    @property
    def output_positions(self) -> int:
        """Output positions (pixels times batch) of a compute layer; 0 when unknown."""
        return self.output_elements // self.output_channels if self.output_channels else 0


@dataclass(frozen=True)
class CostProfile:
    """An engine's work, layer by layer, at the shapes it was built for."""

    layers: tuple[LayerCost, ...]
    input_shapes: dict[str, list[int]]
    uncounted_ops: dict[str, int] = field(default_factory=dict)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_weight_elements(self) -> int:
        return sum(layer.weight_elements for layer in self.layers)

    @property
    def total_activation_elements(self) -> int:
        return sum(layer.activation_elements for layer in self.layers)

    def to_dict(self) -> dict[str, object]:
        return {
            "total_macs": self.total_macs,
            "total_weight_elements": self.total_weight_elements,
            "total_activation_elements": self.total_activation_elements,
            "input_shapes": self.input_shapes,
            "uncounted_ops": self.uncounted_ops,
            "layers": [
                {"name": layer.name, "op": layer.op_type, "macs": layer.macs,
                 "in": layer.input_elements, "out": layer.output_elements,
                 "weights": layer.weight_elements, "fused": list(layer.fused),
                 "sparse": layer.sparse, "out_channels": layer.output_channels}
                for layer in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CostProfile:
        layers_data = data["layers"]
        assert isinstance(layers_data, list)
        layers = tuple(
            LayerCost(name=d["name"], op_type=d["op"], macs=int(d["macs"]),
                      input_elements=int(d["in"]), output_elements=int(d["out"]),
                      weight_elements=int(d["weights"]), fused=tuple(d.get("fused", ())),
                      sparse=bool(d.get("sparse", False)),
                      output_channels=int(d.get("out_channels", 0)))
            for d in layers_data
        )
        shapes = data.get("input_shapes", {})
        uncounted = data.get("uncounted_ops", {})
        assert isinstance(shapes, dict) and isinstance(uncounted, dict)
        return cls(layers, {str(k): list(v) for k, v in shapes.items()},
                   {str(k): int(v) for k, v in uncounted.items()})


def graph_inputs(model: ModelProto) -> list[TensorSpec]:
    """Real inputs (initializers listed as inputs by old exporters are weights, not inputs)."""
    weights = {init.name for init in model.graph.initializer}
    return [spec_from_value_info(v) for v in model.graph.input if v.name not in weights]


def graph_outputs(model: ModelProto) -> list[TensorSpec]:
    return [spec_from_value_info(v) for v in model.graph.output]


def resolve_input_shapes(
    model: ModelProto, given: Mapping[str, Sequence[int]], batch: int = 1
) -> dict[str, list[int]]:
    """Static shapes for every input: given ones win; a dynamic leading dim is the batch;
    any other dynamic dim without a given shape raises :class:`UnresolvedShapeError`."""
    shapes: dict[str, list[int]] = {}
    for spec in graph_inputs(model):
        if spec.name in given:
            shapes[spec.name] = [int(d) for d in given[spec.name]]
            continue
        dims: list[int] = []
        for index, dim in enumerate(spec.shape):
            if isinstance(dim, int):
                dims.append(dim)
            elif index == 0:
                dims.append(batch)
            else:
                raise UnresolvedShapeError(spec.name, spec.shape)
        shapes[spec.name] = dims
    return shapes


def with_static_inputs(model: ModelProto, shapes: Mapping[str, Sequence[int]]) -> ModelProto:
    """A copy of ``model`` whose inputs have the given static shapes, with shapes inferred."""
    fixed = ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in shapes[value.name]:
                dims.add().dim_value = int(size)
    return shape_inference.infer_shapes(fixed, data_prop=True)


def _static_shapes(model: ModelProto) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    values = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
        elif value.type.tensor_type.HasField("shape") and not dims:
            shapes[value.name] = ()
    for init in model.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def _elements(shape: Shape | None) -> int:
    return math.prod(shape) if shape is not None else 0


MacFn = Callable[[NodeProto, Mapping[str, Shape]], int]


def _conv_macs(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    weight, output = shapes.get(node.input[1]), shapes.get(node.output[0])
    if weight is None or output is None:
        return 0
    return _elements(output) * math.prod(weight[1:])


def _conv_transpose_macs(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    weight, data = shapes.get(node.input[1]), shapes.get(node.input[0])
    if weight is None or data is None:
        return 0
    return _elements(data) * math.prod(weight[1:])


def _gemm_macs(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    a, output = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or output is None:
        return 0
    trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
    k = a[0] if trans_a else a[-1]
    return _elements(output) * k


def _matmul_macs(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    a, output = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or output is None or not a:
        return 0
    return _elements(output) * a[-1]


def _recurrent_macs(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    """LSTM/GRU/RNN: W is [dirs, gates*hidden, input], R is [dirs, gates*hidden, hidden]."""
    data, weight, recurrence = (shapes.get(node.input[i]) for i in range(3))
    if data is None or weight is None or recurrence is None:
        return 0
    seq, batch = data[0], data[1]
    return weight[0] * seq * batch * (weight[1] * weight[2] + recurrence[1] * recurrence[2])


MAC_COUNTERS: dict[str, MacFn] = {
    "Conv": _conv_macs,
    "ConvTranspose": _conv_transpose_macs,
    "Gemm": _gemm_macs,
    "MatMul": _matmul_macs,
    "LSTM": _recurrent_macs,
    "GRU": _recurrent_macs,
    "RNN": _recurrent_macs,
}


def analyse(model: ModelProto, input_shapes: Mapping[str, Sequence[int]],
            sparse_layers: Collection[str] = ()) -> CostProfile:
    """The cost profile of ``model`` at ``input_shapes`` (see :func:`resolve_input_shapes`);
    nodes named in ``sparse_layers`` have 2:4-sparse weights."""
    inferred = with_static_inputs(model, input_shapes)
    shapes = _static_shapes(inferred)
    weights = {init.name for init in inferred.graph.initializer}
    consumers = Counter(name for node in inferred.graph.node for name in node.input)
    graph_outputs_ = {v.name for v in inferred.graph.output}
    silu = _silu_pairs(inferred.graph.node, consumers)
    layers: list[LayerCost] = []
    owner: dict[str, int] = {}  # tensor name -> index of the layer that produced it (fusable)
    uncounted: Counter[str] = Counter()
    for node in inferred.graph.node:
        if node.op_type in CONTROL_FLOW_OPS:
            uncounted[node.op_type] += 1
        if node.op_type in FREE_OPS or node.op_type == "Constant":
            _forward_owner(node, owner)
            continue
        activations = [n for n in node.input if n and n not in weights]
        weight_elems = sum(_elements(shapes.get(n)) for n in node.input if n in weights)
        out_elems = sum(_elements(shapes.get(n)) for n in node.output if n)
        producer = _fusion_target(node, activations, owner, consumers, graph_outputs_, silu)
        if producer is not None:
            base = layers[producer]
            side_inputs = sum(_elements(shapes.get(n)) for n in activations if n not in owner
                              or owner[n] != producer)
            layers[producer] = LayerCost(
                base.name, base.op_type, base.macs, base.input_elements + side_inputs,
                out_elems, base.weight_elements + weight_elems, (*base.fused, node.op_type),
                base.sparse, base.output_channels)
            for name in node.output:
                owner[name] = producer
            continue
        counter = MAC_COUNTERS.get(node.op_type)
        macs = counter(node, shapes) if counter is not None else 0
        in_elems = sum(_elements(shapes.get(n)) for n in activations)
        layers.append(LayerCost(node.name or f"{node.op_type}_{len(layers)}", node.op_type,
                                macs, in_elems, out_elems, weight_elems,
                                sparse=bool(node.name) and node.name in sparse_layers,
                                output_channels=_output_channels(node, shapes)))
        for name in node.output:
            owner[name] = len(layers) - 1
    resolved = {k: list(v) for k, v in input_shapes.items()}
    return CostProfile(tuple(layers), resolved, dict(uncounted))


def _forward_owner(node: NodeProto, owner: dict[str, int]) -> None:
    """A free op (reshape, squeeze, ...) passes its input's producer through."""
    if node.input and node.input[0] in owner:
        for name in node.output:
            owner[name] = owner[node.input[0]]


def _output_channels(node: NodeProto, shapes: Mapping[str, Shape]) -> int:
    """Output channels of a compute node (dimension 1 of a convolution's output, the last
    dimension of a matrix product's); 0 for other nodes or unknown shapes."""
    if node.op_type not in COMPUTE_OPS or not node.output:
        return 0
    output = shapes.get(node.output[0])
    if not output:
        return 0
    if node.op_type in ("Conv", "ConvTranspose"):
        return int(output[1]) if len(output) > 1 else 0
    if node.op_type in ("Gemm", "MatMul"):
        return int(output[-1])
    return 0


def _silu_pairs(nodes: Sequence[NodeProto], consumers: Mapping[str, int]) -> dict[str, str]:
    """SiLU written as ``Mul(x, Sigmoid(x))``: the tensor ``x`` of each such pair -> the Mul's
    output, for pairs where ``x`` feeds nothing else and the Sigmoid feeds only the Mul."""
    sigmoids = {node.output[0]: node.input[0] for node in nodes
                if node.op_type == "Sigmoid" and node.input and node.output}
    pairs: dict[str, str] = {}
    for node in nodes:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        for x, s in (tuple(node.input), tuple(reversed(node.input))):
            if sigmoids.get(s) == x and consumers.get(x, 0) == 2 \
                    and consumers.get(s, 0) == 1:
                pairs[x] = node.output[0]
    return pairs


def _fusion_target(
    node: NodeProto, activations: Sequence[str], owner: Mapping[str, int],
    consumers: Mapping[str, int], graph_outputs_: set[str],
    silu: Mapping[str, str] | None = None,
) -> int | None:
    """The layer this node fuses into: a fusable op whose main input comes from a compute layer
    (or a layer already fused into one) and has no other consumer, or either half of a SiLU
    (``silu``: see :func:`_silu_pairs`) on such a layer's output."""
    if node.op_type not in FUSABLE_OPS or not activations:
        return None
    main = activations[0]
    if silu:
        if node.op_type == "Sigmoid" and main in silu and main in owner \
                and main not in graph_outputs_:
            return owner[main]
        x = next((n for n in activations if silu.get(n) == node.output[0]), None)
        if node.op_type == "Mul" and x is not None and x in owner \
                and all(owner.get(n) == owner[x] for n in activations):
            return owner[x]
    if main not in owner or consumers.get(main, 0) != 1 or main in graph_outputs_:
        return None
    return owner[main]


def is_compute_layer(layer: LayerCost) -> bool:
    return layer.op_type in COMPUTE_OPS


#: Domains whose operators the onnx package knows (ops of other domains, such as onnxruntime's
#: ``com.microsoft``, are for their runtime to judge).
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})


def load_model(data: bytes, source: str | Path | None = None) -> ModelProto:
    """Parse ONNX bytes. Bytes that are not an ONNX model, a model without a graph, an
    operator ONNX does not define and weights kept in external data files are the user's to
    fix: one line naming ``source`` (the file), never protobuf's traceback, and never a build
    that "succeeds" on a model no engine can run (the simulated Jetson only counts shapes, so
    without this check an op that does not exist would pass until a real device)."""
    if not data:  # protobuf parses zero bytes as an empty model
        raise UserError("the ONNX file is empty (0 bytes); export it again, or check the path",
                        file=source)
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"not an ONNX model ({reason}); export it again, or check the path",
                        file=source) from None
    if not model.graph.node:
        raise UserError("the ONNX model has no graph (no nodes); export the whole model",
                        file=source)
    _check_operators(model, source)
    _check_self_contained(model, source)
    return model


def _subgraphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """``graph`` and the bodies of its If/Loop/Scan nodes, recursively."""
    graphs = [graph]
    for node in graph.node:
        for attribute in node.attribute:
            inner = [attribute.g] if attribute.HasField("g") else []
            for sub in [*inner, *attribute.graphs]:
                graphs += _subgraphs(sub)
    return graphs


def _check_operators(model: ModelProto, source: str | Path | None) -> None:
    """Every node of a standard domain is an operator ONNX defines at the model's opset."""
    opsets = {"" if o.domain == "ai.onnx" else o.domain: o.version for o in model.opset_import}
    newest = onnx.defs.onnx_opset_version()
    for graph in _subgraphs(model.graph):
        for node in graph.node:
            domain = "" if node.domain == "ai.onnx" else node.domain
            if domain not in STANDARD_DOMAINS:
                continue
            version = opsets.get(domain, newest)
            if onnx.defs.has(node.op_type, domain):
                if onnx.defs.has(node.op_type, version, domain):
                    continue
                problem = f"does not exist at opset {version} (it is newer)"
                fix = "export with a newer opset"
            else:
                problem = "is not an ONNX operator"
                fix = "export the model with standard operators"
            where = f" of domain '{domain}'" if domain else ""
            name = f" (node '{node.name}')" if node.name else ""
            raise UserError(f"op '{node.op_type}'{where}{name} {problem}, so no engine can "
                            f"run it ({fix})", file=source)


def _check_self_contained(model: ModelProto, source: str | Path | None) -> None:
    """The weights are inside the file. The model is read from its bytes (and hashed for the
    engine cache from them), so a tensor in an external data file would be read from the
    wrong directory, or from nowhere, and changing that file would not rebuild the engine."""
    for graph in _subgraphs(model.graph):
        for tensor in graph.initializer:
            if tensor.data_location != onnx.TensorProto.EXTERNAL:
                continue
            entries = {entry.key: entry.value for entry in tensor.external_data}
            location = entries.get("location", "?")
            present = source is not None and (Path(source).parent / location).is_file()
            state = "" if present else ", which is missing"
            raise UserError(f"weight '{tensor.name}' is in the external data file '{location}'"
                            f"{state}; edge-runtime reads self-contained models (save it with "
                            "onnx.save(model, path), without save_as_external_data)",
                            file=source)
