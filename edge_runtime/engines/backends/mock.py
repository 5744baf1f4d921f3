"""The mock backend: engines for the simulated Jetson.

This is a stand-in for TensorRT on hardware this machine lacks. Building reads the ONNX, runs
shape inference and records each layer's MACs and traffic in the manifest; the plan is the ONNX
itself. Running returns outputs of the right names, shapes and dtypes (zeros, or the real
values from onnxruntime on the CPU) and reports, as its device time, what the device model
predicts for the current power mode and lane. It never waits: on the wall clock the lane waits
out the rest of the modelled time (as a real engine's synchronise would), on the simulated
clock the loop advances by it. When real outputs take this host longer than the modelled device
time, the inference overruns and the count is kept (``host_overruns``), so nobody mistakes the
host's speed for the Jetson's.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from edge_runtime.config.power import PowerMode
from edge_runtime.config.recipe import (
    EngineRecipe,
    MockOutputs,
    Precision,
    Sparsity,
    TargetDevice,
)
from edge_runtime.engines.artifact import Artifact, Manifest
from edge_runtime.engines.base import (
    BaseRunner,
    BuildRequest,
    EngineBuilder,
    MessageFn,
    base_manifest_fields,
)
from edge_runtime.engines.specs import engine_input_specs, engine_output_specs
from edge_runtime.errors import UserError
from edge_runtime.graph.analysis import CostProfile, analyse
from edge_runtime.graph.tensors import Feed, Outputs
from edge_runtime.sim.device_model import Lane
from edge_runtime.sim.jetson import SimulatedJetson


def lane_for(recipe: EngineRecipe, device: SimulatedJetson) -> tuple[Lane, list[str]]:
    """The lane a recipe's target maps to on this module, with notes on any fallback."""
    target = recipe.target.device
    if target is TargetDevice.GPU:
        return Lane.GPU, []
    lane = Lane(target.value)
    if lane in device.lanes():
        return lane, []
    if recipe.target.gpu_fallback:
        return Lane.GPU, [f"{device.profile.name} has no {lane.value}; the whole engine falls "
                          "back to the GPU"]
    raise UserError(f"{device.profile.name} has no {lane.value} and gpu_fallback is off "
                    "(target another device or set target.gpu_fallback: true)",
                    key="target.device")


def sparse_layers(model: onnx.ModelProto) -> frozenset[str]:
    """Layers whose weights are 2:4-sparse (in a Q/DQ model, read through the dequantization),
    which TensorRT runs on sparse kernels when the build enables sparse weights."""
    from edge_runtime.optimize.sparsity import check_sparsity

    return frozenset(layer.node for layer in check_sparsity(model).sparse_layers)


def priced_as(name: str, sparse: bool) -> CostProfile:
    """The cost profile of a reference network, for ``mock.price_as``."""
    from edge_runtime.sim.reference_models import REFERENCE_MODELS, reference_cost

    if name not in REFERENCE_MODELS:
        raise UserError(f"unknown reference network '{name}' (known: "
                        f"{', '.join(sorted(REFERENCE_MODELS))})", key="mock.price_as")
    return reference_cost(name, sparse)


def effective_precision(recipe: EngineRecipe) -> Precision:
    """``best`` lets TensorRT choose per layer; the simulator prices it as INT8."""
    return Precision.INT8 if recipe.precision is Precision.BEST else recipe.precision


class MockBuilder(EngineBuilder):
    """Builds simulated-Jetson plans: the ONNX plus its layer cost profile."""

    backend = "mock"

    def __init__(self, device: SimulatedJetson) -> None:
        self.device = device

    def identity(self) -> dict[str, str]:
        return {"version": "sim-1", "device": f"simulated:{self.device.profile.module}",
                "onnx": onnx.__version__}

    def build(self, request: BuildRequest, progress: MessageFn | None = None) -> Artifact:
        started = time.perf_counter()
        if progress:
            progress(f"analysing {request.recipe.name}: shape inference and layer costs")
        lane, notes = lane_for(request.recipe, self.device)
        sparse = sparse_layers(request.model) if request.recipe.sparsity is Sparsity.TWO_FOUR \
            else frozenset()
        price_as = request.recipe.mock.price_as
        if price_as is not None:
            cost = priced_as(price_as, sparse=bool(sparse))
            notes.append(f"{request.recipe.name} priced as {price_as} (its outputs come from "
                         f"{request.recipe.onnx.name})")
        else:
            cost = analyse(request.costed_model, request.input_shapes, sparse)
        if cost.uncounted_ops:
            notes.append(f"ops inside control flow are not costed: {cost.uncounted_ops}")
        plan = request.onnx_bytes
        fields = base_manifest_fields(request, self, plan, started)
        manifest = Manifest(
            **fields,
            lane=lane.value,
            inputs=engine_input_specs(request.model, request.recipe),
            outputs=engine_output_specs(request.costed_model, request.input_shapes),
            cost=cost.to_dict(),
            notes=notes,
        )
        return Artifact(plan=plan, manifest=manifest)


class MockRunner(BaseRunner):
    """Runs a simulated-Jetson plan on ``device`` (see the module docstring)."""

    simulated_timing = True

    def __init__(self, artifact: Artifact, device: SimulatedJetson, *,
                 outputs: MockOutputs | None = None, cpu_threads: int = 1) -> None:
        super().__init__(artifact, artifact.manifest.lane)
        self.device = device
        recipe_outputs = artifact.manifest.recipe.get("mock", {}).get("outputs", "synthetic")
        self.outputs_mode = outputs or MockOutputs(recipe_outputs)
        self.cpu_threads = cpu_threads
        self.host_overruns = 0
        cost = artifact.manifest.cost_profile()
        if cost is None:
            raise ValueError(f"{artifact.manifest.name} has no cost profile; not a mock plan")
        self.cost: CostProfile = cost
        self.precision = effective_precision(EngineRecipe.model_validate(
            artifact.manifest.recipe))
        self._lane = Lane(artifact.manifest.lane)
        self._session: Any = None
        self._latencies: dict[tuple[int, int], float] = {}
        self._costed_batch = next(iter(cost.input_shapes.values()), [1])[0] or 1

    def activate_impl(self) -> None:
        if self.outputs_mode is MockOutputs.ONNXRUNTIME:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.cpu_threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.artifact.plan, options,
                                                 providers=["CPUExecutionProvider"])

    def deactivate_impl(self) -> None:
        self._session = None

    def modelled_latency_s(self, batch: int = 1) -> float:
        """What the simulated device says one inference takes now. The device model is pure,
        so the answer is kept per (power mode, batch) instead of re-priced every frame."""
        key = (self.device.mode.id, batch)
        if key not in self._latencies:
            self._latencies[key] = self.device.engine_latency_s(self.cost, self._lane,
                                                                self.precision, batch)
        return self._latencies[key]

    def predicted_device_time_s(self) -> float:
        return self.modelled_latency_s()

    def predicted_latency_s(self, mode: PowerMode, batch: int = 1) -> float:
        """What one inference would take in ``mode`` (the planner's what-if for a switch)."""
        return self.device.model.latency_s(self.cost, mode, self._lane, self.precision, batch)

    def infer_impl(self, feed: Feed) -> Outputs:
        started = time.perf_counter()
        batch = self._batch_units(feed)
        modelled = self.modelled_latency_s(batch)
        if self._session is not None:
            values = self._session.run(None, dict(feed))
            names = [o.name for o in self.manifest.outputs]
            outputs: Outputs = dict(zip(names, values, strict=True))
        else:
            outputs = self._zeros(batch)
        self.last_device_time_s = modelled
        if time.perf_counter() - started > modelled:
            self.host_overruns += 1
        return outputs

    def _batch_units(self, feed: Feed) -> int:
        """How many of the costed shape's inferences a feed is worth. An image batch is its
        batch over the costed one; a token batch (dynamic length) is its tokens over the
        costed shape's, rounded up, so a batch padded to 64 tokens costs more than one of 12
        (the model is priced at its profile's opt shape)."""
        if not feed:
            return 1
        first = next(iter(feed.values()))
        costed = next(iter(self.cost.input_shapes.values()), [1])
        if len(first.shape) == len(costed) and list(first.shape[1:]) != list(costed[1:]):
            elements = int(np.prod(costed)) or 1
            return max(math.ceil(int(first.size) / elements), 1)
        return max(int(first.shape[0]) // self._costed_batch, 1)

    def _zeros(self, batch: int) -> Outputs:
        outputs: dict[str, npt.NDArray[np.generic]] = {}
        for spec in self.manifest.outputs:
            shape = spec.concrete_shape()
            if shape:
                shape[0] *= batch  # output specs hold the shapes at the built batch
            outputs[spec.name] = np.zeros(shape, dtype=spec.numpy_dtype)
        return outputs
