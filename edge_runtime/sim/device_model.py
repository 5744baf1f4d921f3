"""The simulated Jetson's device model: engine latency and module power per power mode.

This is a stand-in for hardware this machine lacks, and says so everywhere it is used. It is a
roofline, layer by layer, with the terms that matter at robot batch sizes:

* compute time = 2 x MACs / (peak rate of the lane for the precision at the mode's clock x
  efficiency). The GPU peak is its tensor cores' rate: INT8, FP16, and for FP32 convolutions and
  matrix products the TF32 rate, because TensorRT enables TF32 by default on Ampere (Orin's GPU)
  and picks tensor-core tactics, so "FP32" engines do not run at the CUDA-core FP32 rate. The
  efficiency is a lane's best share of that peak for the precision (INT8 kernels reach a smaller
  share of their doubled peak than FP16 ones: the epilogue, requantisation and data staging do
  not get faster with the math), scaled down for layers that do not fill the tensor cores: too
  little work per SM (the ramp and drain of a kernel), too few output channels for a tile's
  width (thin layers: each loaded operand is reused by fewer outputs), too few output positions
  for a tile's height (small feature maps at batch 1), and too shallow a reduction for one MMA
  instruction (32 bytes of the reduced dimension: 32 INT8, 16 FP16 or 8 TF32 values;
  depthwise convolutions);
* memory time = bytes moved (activations in and out, weights once per batch) / (LPDDR5 bandwidth
  at the mode's EMC clock x efficiency);
* a layer takes the longer of the two plus a fixed per-kernel cost on the lane (ramp, drain and
  the launch latency on the device, scaling with the lane's clock); TensorRT's fusions are in the
  cost profile (:mod:`edge_runtime.graph.analysis`, including SiLU written as Sigmoid + Mul), and
  concatenations are free (TensorRT has the producers write into the concatenated buffer);
* every inference pays an enqueue/synchronise cost, scaling with the CPU clock on the GPU (a CPU
  thread drives it) and fixed on the DLA; without a CUDA graph the CPU also launches each GPU
  kernel, one after the other, while the GPU runs the ones already launched: kernels shorter
  than a launch leave the GPU waiting (small networks at batch 1), longer ones hide it. A CUDA
  graph replaces the per-kernel launches by one, but not the per-kernel cost on the device.

Power is idle power (a base, each online CPU core, and the leakage of the powered GPU SMs) plus
dynamic power per busy unit, scaling with units x clock x voltage^2, with voltage linear in the
clock, plus memory power while an accelerator streams, which scales with the EMC clock and the
memory bus width (a 128-bit module drives half the DRAM channels of a 256-bit one). The
coefficients live in :class:`Calibration`; :mod:`edge_runtime.sim.calibration_fit` fits them and
``docs/simulator.md`` lists the published figures they were fitted to and the error on each.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from edge_runtime.config.power import PowerMode, PowerProfile
from edge_runtime.config.recipe import Precision
from edge_runtime.graph.analysis import CostProfile, LayerCost


class Lane(str, enum.Enum):
    """An execution resource that runs one engine at a time."""

    GPU = "gpu"
    DLA0 = "dla0"
    DLA1 = "dla1"
    CPU = "cpu"

    @property
    def is_dla(self) -> bool:
        return self in (Lane.DLA0, Lane.DLA1)

    @property
    def dla_index(self) -> int:
        return 0 if self is Lane.DLA0 else 1


@dataclass(frozen=True)
class Calibration:
    """Efficiency, overhead and power coefficients (fitted by
    :func:`edge_runtime.sim.calibration_fit.fit_calibration` to the published figures in
    ``edge_runtime/sim/reference/``; see docs/simulator.md)."""

    # --- latency: GPU --------------------------------------------------------------------------
    gpu_peak_efficiency: float = 0.4453
    """Share of the INT8 tensor-core peak a large, well-shaped layer reaches."""
    gpu_fp16_peak_efficiency: float = 0.5012
    """The same for FP16 (its peak is half INT8's; the fixed costs of a tile, epilogue and data
    staging, weigh less against slower math, so the share is higher)."""
    gpu_tf32_peak_efficiency: float = 0.3914
    """The same for FP32 engines on the TF32 tensor-core rate (FP32 data: twice FP16's bytes
    through shared memory per MAC)."""
    gpu_tf32_rate: float = 0.5
    """TF32 tensor-core rate relative to FP16 (Ampere: half; a hardware fact, not fitted): FP32
    convolutions and matrix products run on the tensor cores at this rate, because TensorRT
    enables TF32 by default on Ampere (``BuilderFlag.TF32``). 0: TF32 disabled, FP32 at the
    CUDA-core rate."""
    gpu_half_fill_channels: float = 5.439
    """Output channels at which a layer reaches half its efficiency: a tensor-core tile computes
    a block of output channels, and a thin layer leaves it partly empty and reuses each loaded
    input for fewer outputs. 0: no penalty."""
    gpu_half_fill_positions: float = 6.388
    """Output positions (pixels x batch) per SM at which a layer reaches half its efficiency:
    the output rows are cut into tiles spread over the SMs, and a small feature map at batch 1
    (20x20 at stride 32) has too few rows to give every SM its share. 0: no penalty."""
    gpu_memory_efficiency: float = 0.9
    """Share of DRAM bandwidth streaming kernels reach."""
    gpu_reduction_depth: float = 32.0
    """Bytes of the reduced dimension (input channels per group x kernel area) one tensor-core
    MMA consumes: 32 INT8, 16 FP16 or 8 TF32 values. A shallower layer runs proportionally
    slower: a depthwise 3x3 (9) at 9/32 of the INT8 rate, 9/16 of the FP16 rate."""
    gpu_layer_overhead_s: float = 1.575e-6
    """Fixed cost per kernel on the GPU at ``gpu_vmax_hz`` that a CUDA graph does not remove
    (ramp and drain, the graph node's own launch); scales with 1/GPU clock."""
    gpu_stream_launch_s: float = 1.241e-5
    """Extra cost per kernel on the GPU at ``gpu_vmax_hz`` when kernels are launched one by one
    on a stream rather than as a CUDA graph (the GPU's front end fetches and sets up each
    launch as it comes; a graph's are prepared in advance); scales with 1/GPU clock."""
    gpu_launch_overhead_s: float = 4.99e-6
    """CPU time to launch one kernel (TensorRT's enqueue: a driver call per kernel) at
    ``cpu_vmax_hz``; scales with 1/CPU clock. Paid without a CUDA graph, overlapped with the
    GPU running the kernels already launched."""
    gpu_inference_overhead_s: float = 1.576e-4
    """Enqueue, synchronise and copy cost per inference at ``cpu_vmax_hz``; scales with 1/CPU
    clock."""
    # --- latency: DLA --------------------------------------------------------------------------
    dla_peak_efficiency: float = 0.8498
    """Share of the DLA convolution-core peak a large layer reaches."""
    dla_fill_macs: float = 9.906e5
    """MACs per layer at which the DLA reaches half of ``dla_peak_efficiency``."""
    dla_memory_efficiency: float = 0.2818
    """Share of DRAM bandwidth one DLA reaches."""
    dla_reduction_depth: float = 64.0
    """MACs per output element the DLA's convolution core needs to be fully fed (its INT8
    atomic channel count); shallower layers, depthwise above all, run proportionally slower."""
    dla_sparse_speedup: float = 1.456
    """Compute-time divisor for a 2:4-sparse layer on the DLA (fitted to the sparse rows of
    orin_dla_perf_by_power_mode.csv)."""
    gpu_sparse_speedup: float = 1.45
    """The same for the GPU's sparse tensor cores (no published Orin GPU figure: taken equal to
    the DLA's; NVIDIA quotes up to 2x peak math throughput)."""
    dla_layer_overhead_s: float = 9.52e-6
    """Per-layer cost on the DLA at ``dla_vmax_hz`` (its own sequencer; scales with 1/DLA
    clock, not with the CPU)."""
    dla_inference_overhead_s: float = 9.077e-5
    """Per-inference submit and synchronise cost of a DLA task."""
    # --- power ---------------------------------------------------------------------------------
    idle_w: float = 0.6603
    """Module power with every accelerator idle, before CPU cores and GPU leakage."""
    idle_w_per_online_cpu: float = 0.1532
    """Idle power per online CPU core."""
    cpu_w_per_core_ghz: float = 0.9986
    """Dynamic power of one busy CPU core per GHz at the top voltage."""
    gpu_leak_w_per_sm: float = 0.1133
    """Leakage of each powered SM at the top voltage (scales with voltage; TPCs the mode
    power-gates do not leak)."""
    gpu_w_per_sm_ghz: float = 0.8013
    """Dynamic GPU power per SM per GHz at the top voltage."""
    dla_w_per_ghz: float = 1.397
    """Dynamic power of one busy DLA per GHz at the top voltage."""
    emc_w_per_ghz: float = 2.977
    """Memory-controller and DRAM power per GHz of EMC clock when an accelerator streams, on a
    bus of ``emc_reference_bus_bits``; scales with the module's bus width (the number of DRAM
    channels toggling)."""
    emc_reference_bus_bits: float = 256.0
    """Bus width ``emc_w_per_ghz`` is given for (the AGX Orin's, whose figures fit it)."""
    min_voltage_ratio: float = 0.8137
    """Voltage at zero clock relative to the voltage at the top clock (linear in between)."""
    # --- reference clocks (Orin silicon, the same on every module) -----------------------------
    cpu_vmax_hz: float = 2.2016e9
    """CPU clock at the top of the voltage curve; reference clock of the CPU-bound overheads."""
    gpu_vmax_hz: float = 1.3005e9
    """GPU clock at the top of the voltage curve; reference clock of the GPU layer overhead."""
    dla_vmax_hz: float = 1.6e9
    """DLA clock at the top of the voltage curve; reference clock of the DLA layer overhead."""
    # --- the measurement, not the device ------------------------------------------------------
    python_inference_overhead_s: float = 9.831e-4
    """Host time per inference of a Python harness (Ultralytics' benchmark: its AutoBackend
    call, the TensorRT bindings, torch's synchronisation) at ``cpu_vmax_hz``, on top of
    ``gpu_inference_overhead_s``; scales with 1/CPU clock. Only figures measured that way
    include it (:mod:`edge_runtime.sim.calibration_report`); :class:`DeviceModel` never adds
    it."""
    # --- wall power (assumptions, not fitted) --------------------------------------------------
    wall_psu_efficiency: float = 0.88
    """AC adapter efficiency of a developer kit (assumed)."""
    wall_carrier_w: float = 1.5
    """Carrier board, fan and peripherals of a developer kit (assumed)."""


DEFAULT_CALIBRATION = Calibration()

_BYTES = {Precision.FP32: 4, Precision.FP16: 2, Precision.INT8: 1, Precision.BEST: 1}

#: Ops TensorRT runs without a kernel of their own: a concatenation's producers write straight
#: into the concatenated buffer (its "concatenation elimination").
ELIMINATED_OPS = frozenset({"Concat"})


@dataclass(frozen=True)
class ModeClocks:
    """Effective clocks and units of one power mode (caps resolved against hardware maxima)."""

    cpu_hz: float
    cpu_online: int
    gpu_hz: float
    gpu_sms: int
    dla_hz: tuple[float, ...]
    emc_hz: float
    memory_bandwidth: float


class DeviceModel:
    """Latency and power of a Jetson module, per power mode. Pure: no state, no clock."""

    def __init__(self, profile: PowerProfile, calibration: Calibration = DEFAULT_CALIBRATION):
        self.profile = profile
        self.calibration = calibration

    def clocks(self, mode: PowerMode) -> ModeClocks:
        hw = self.profile.hardware
        cpu_hz = (mode.cpu_max_khz or hw.cpu_max_khz) * 1e3
        gpu_hz = float(min(mode.gpu_max_hz or hw.gpu_max_hz, hw.gpu_max_hz))
        emc_hz = float(min(mode.emc_max_hz or hw.emc_max_hz, hw.emc_max_hz))
        dla_caps = mode.dla_max_hz or [None] * hw.dla_cores
        dla_hz = tuple(float(min(cap or hw.dla_max_hz or 0, hw.dla_max_hz or 0))
                       for cap in dla_caps)
        bandwidth = 2.0 * emc_hz * hw.memory_bus_bits / 8.0
        return ModeClocks(cpu_hz, mode.cpu_online, gpu_hz, mode.gpu_tpcs * hw.gpu_sms_per_tpc,
                          dla_hz, emc_hz, bandwidth)

    # --- latency -------------------------------------------------------------------------------

    def peak_ops(self, mode: PowerMode, lane: Lane, precision: Precision) -> float:
        """Peak dense operations per second of ``lane`` in ``mode`` (2 operations per MAC); for
        FP32 on the GPU the rate its convolutions run at (TF32 tensor cores, see
        :attr:`Calibration.gpu_tf32_rate`)."""
        return self._peak_ops(self.clocks(mode), lane, precision)

    def _peak_ops(self, clocks: ModeClocks, lane: Lane, precision: Precision) -> float:
        hw = self.profile.hardware
        if lane.is_dla:
            per_clk = hw.dla_fp16_ops_per_clk if precision in (Precision.FP16, Precision.FP32) \
                else hw.dla_int8_ops_per_clk
            return per_clk * clocks.dla_hz[lane.dla_index]
        cal = self.calibration
        if precision is Precision.FP32:
            per_sm = hw.gpu_fp16_ops_per_clk_per_sm * cal.gpu_tf32_rate if cal.gpu_tf32_rate \
                else hw.gpu_fp32_ops_per_clk_per_sm
        elif precision is Precision.FP16:
            per_sm = hw.gpu_fp16_ops_per_clk_per_sm
        else:
            per_sm = hw.gpu_int8_ops_per_clk_per_sm
        return per_sm * clocks.gpu_sms * clocks.gpu_hz

    def _rates(self, mode: PowerMode, lane: Lane, precision: Precision) -> _LaneRates:
        """Everything a layer's time depends on besides the layer itself."""
        if lane is Lane.CPU:
            raise ValueError("the simulated Jetson models the GPU and DLAs, not CPU engines")
        cal = self.calibration
        clocks = self.clocks(mode)
        if lane.is_dla:
            if lane.dla_index >= len(clocks.dla_hz) or clocks.dla_hz[lane.dla_index] <= 0:
                raise ValueError(f"{self.profile.name} has no {lane.value}")
            return _LaneRates(
                peak_ops=self._peak_ops(clocks, lane, precision),
                efficiency=cal.dla_peak_efficiency, fill_macs=cal.dla_fill_macs, fill_units=1,
                reduction_depth=cal.dla_reduction_depth,
                bandwidth=clocks.memory_bandwidth * cal.dla_memory_efficiency,
                layer_overhead_s=cal.dla_layer_overhead_s * cal.dla_vmax_hz
                / clocks.dla_hz[lane.dla_index],
                inference_overhead_s=cal.dla_inference_overhead_s,
                bytes_per_element=_BYTES[precision], sparse_speedup=cal.dla_sparse_speedup)
        tensor_cores = precision is not Precision.FP32 or cal.gpu_tf32_rate > 0
        efficiency = {Precision.FP32: cal.gpu_tf32_peak_efficiency,
                      Precision.FP16: cal.gpu_fp16_peak_efficiency}.get(
            precision, cal.gpu_peak_efficiency)
        # One MMA reduces a fixed number of bytes: 32 INT8 values, 16 FP16, 8 TF32.
        operand_bytes = {Precision.FP32: 4, Precision.FP16: 2}.get(precision, 1)
        return _LaneRates(
            peak_ops=self._peak_ops(clocks, lane, precision), efficiency=efficiency,
            fill_macs=0.0, fill_units=max(clocks.gpu_sms, 1),
            reduction_depth=cal.gpu_reduction_depth / operand_bytes if tensor_cores else 1.0,
            half_fill_channels=cal.gpu_half_fill_channels if tensor_cores else 0.0,
            half_fill_positions=cal.gpu_half_fill_positions if tensor_cores else 0.0,
            bandwidth=clocks.memory_bandwidth * cal.gpu_memory_efficiency,
            layer_overhead_s=cal.gpu_layer_overhead_s * cal.gpu_vmax_hz / clocks.gpu_hz,
            stream_launch_s=cal.gpu_stream_launch_s * cal.gpu_vmax_hz / clocks.gpu_hz,
            inference_overhead_s=cal.gpu_inference_overhead_s * cal.cpu_vmax_hz / clocks.cpu_hz,
            launch_overhead_s=cal.gpu_launch_overhead_s * cal.cpu_vmax_hz / clocks.cpu_hz,
            bytes_per_element=_BYTES[precision], sparse_speedup=cal.gpu_sparse_speedup)

    def layer_time_s(self, layer: LayerCost, mode: PowerMode, lane: Lane,
                     precision: Precision, batch: int = 1, cuda_graph: bool = False) -> float:
        """Seconds one layer's kernel takes on the lane at ``batch`` x the profile's batch (0
        for a layer TensorRT eliminates, see :data:`ELIMINATED_OPS`)."""
        return self._rates(mode, lane, precision).layer_time_s(layer, batch, cuda_graph)

    def latency_s(self, cost: CostProfile, mode: PowerMode, lane: Lane,
                  precision: Precision, batch: int = 1, cuda_graph: bool = False) -> float:
        """Seconds one inference of ``cost`` (``batch`` x its batch) takes on ``lane``.

        ``cuda_graph``: the engine is launched as one CUDA graph (MLPerf's harness) rather than
        kernel by kernel (``execute_async_v3``, as this runtime's TensorRT runner and most
        applications do); only the GPU has per-kernel launches."""
        rates = self._rates(mode, lane, precision)
        kernels = [rates.layer_time_s(layer, batch, cuda_graph) for layer in cost.layers
                   if layer.op_type not in ELIMINATED_OPS]
        return rates.inference_overhead_s + rates.stream_time_s(kernels, cuda_graph)

    def throughput(self, cost: CostProfile, mode: PowerMode, lane: Lane, precision: Precision,
                   batch: int = 1, cuda_graph: bool = False) -> float:
        """Inferences (of ``cost``'s batch) per second with ``batch``-sized back-to-back runs."""
        return batch / self.latency_s(cost, mode, lane, precision, batch, cuda_graph)

    # --- power ---------------------------------------------------------------------------------

    def _voltage(self, hz: float, vmax_hz: float) -> float:
        low = self.calibration.min_voltage_ratio
        return low + (1.0 - low) * min(hz / vmax_hz, 1.0)

    def lane_power_w(self, mode: PowerMode, lane: Lane, utilisation: float = 1.0) -> float:
        """Power of one lane's own rail share: dynamic power at ``utilisation`` (for the GPU
        plus the leakage of its powered SMs; for ``Lane.CPU``, all online cores that busy)."""
        cal = self.calibration
        clocks = self.clocks(mode)
        busy = min(max(float(utilisation), 0.0), 1.0)
        if lane is Lane.CPU:
            volts = self._voltage(clocks.cpu_hz, cal.cpu_vmax_hz)
            return busy * cal.cpu_w_per_core_ghz * clocks.cpu_online * clocks.cpu_hz / 1e9 \
                * volts * volts
        if lane is Lane.GPU:
            volts = self._voltage(clocks.gpu_hz, cal.gpu_vmax_hz)
            return clocks.gpu_sms * volts * (
                cal.gpu_leak_w_per_sm + busy * cal.gpu_w_per_sm_ghz * clocks.gpu_hz / 1e9 * volts)
        if lane.dla_index >= len(clocks.dla_hz):
            return 0.0
        dla_hz = clocks.dla_hz[lane.dla_index]
        volts = self._voltage(dla_hz, cal.dla_vmax_hz)
        return busy * cal.dla_w_per_ghz * dla_hz / 1e9 * volts * volts

    def power_w(self, mode: PowerMode, utilisation: Mapping[Lane, float]) -> float:
        """Estimated module power with each lane busy the given share of the time (0..1);
        ``Lane.CPU`` is the share of the online CPU cores that is busy."""
        cal = self.calibration
        clocks = self.clocks(mode)
        watts = cal.idle_w + cal.idle_w_per_online_cpu * clocks.cpu_online
        watts += sum(self.lane_power_w(mode, lane, utilisation.get(lane, 0.0)) for lane in Lane)
        streaming = sum(min(max(float(utilisation.get(lane, 0.0)), 0.0), 1.0)
                        for lane in (Lane.GPU, Lane.DLA0, Lane.DLA1))
        return watts + min(streaming, 1.0) * self.memory_power_w(mode)

    def memory_power_w(self, mode: PowerMode) -> float:
        """Memory-controller and DRAM power while an accelerator streams: proportional to the
        EMC clock (each transfer toggles the bus) and to the bus width (the DRAM channels and
        devices that toggle: a 128-bit Orin NX or Nano has half the AGX Orin's 256)."""
        cal = self.calibration
        width = self.profile.hardware.memory_bus_bits / cal.emc_reference_bus_bits
        return cal.emc_w_per_ghz * self.clocks(mode).emc_hz / 1e9 * width

    def wall_power_w(self, module_w: float) -> float:
        """Developer-kit wall power for a module power (carrier and adapter assumptions in
        :class:`Calibration`)."""
        cal = self.calibration
        return (module_w + cal.wall_carrier_w) / cal.wall_psu_efficiency


#: Bytes of a 2:4-sparse weight relative to dense: half the values plus 2-bit indices per kept
#: value (the compressed format of sparse tensor cores).
SPARSE_WEIGHT_SHARE = 0.5625


@dataclass(frozen=True)
class _LaneRates:
    """A lane's roofline in one mode and precision."""

    peak_ops: float
    efficiency: float
    fill_macs: float
    fill_units: int
    reduction_depth: float
    bandwidth: float
    layer_overhead_s: float
    inference_overhead_s: float
    bytes_per_element: int
    sparse_speedup: float = 1.0
    half_fill_channels: float = 0.0
    half_fill_positions: float = 0.0
    launch_overhead_s: float = 0.0
    stream_launch_s: float = 0.0

    def compute_efficiency(self, layer: LayerCost, batch: int) -> float:
        """Share of the peak this layer reaches: the lane's best, times how well the layer
        fills the lane (on the DLA: MACs against the ramp of its pipeline; on the GPU: output
        positions per SM and output channels against the tiles), and one MMA's (or the DLA's
        atomic) reduction depth (MACs per output)."""
        efficiency = self.efficiency
        if self.fill_macs:
            per_unit = layer.macs * batch / self.fill_units
            efficiency *= per_unit / (per_unit + self.fill_macs)
        if layer.output_elements:
            depth = layer.macs / layer.output_elements
            efficiency *= min(1.0, depth / self.reduction_depth)
        if layer.output_channels and self.half_fill_channels:
            channels = layer.output_channels
            efficiency *= channels / (channels + self.half_fill_channels)
        if layer.output_channels and self.half_fill_positions:
            positions = layer.output_positions * batch / self.fill_units
            efficiency *= positions / (positions + self.half_fill_positions)
        return efficiency

    def layer_time_s(self, layer: LayerCost, batch: int, cuda_graph: bool = False) -> float:
        if layer.op_type in ELIMINATED_OPS:
            return 0.0
        macs = layer.macs * batch
        weights = layer.weight_elements * (SPARSE_WEIGHT_SHARE if layer.sparse else 1.0)
        bytes_moved = (layer.activation_elements * batch + weights) * self.bytes_per_element
        compute = 0.0
        if macs:
            compute = 2.0 * macs / (self.peak_ops * self.compute_efficiency(layer, batch))
            if layer.sparse:
                compute /= self.sparse_speedup
        overhead = self.layer_overhead_s + (0.0 if cuda_graph else self.stream_launch_s)
        return max(compute, bytes_moved / self.bandwidth) + overhead

    def stream_time_s(self, kernels: list[float], cuda_graph: bool) -> float:
        """Time from the first launch to the end of the last of ``kernels`` (their durations,
        in order) on one stream. Launched one by one, kernel k cannot start before the CPU has
        launched it, (k + 1) launch costs in: ``start_k = max(end_(k-1), (k + 1) x launch)``.
        One CUDA graph launches them all at once."""
        if cuda_graph or not self.launch_overhead_s:
            return sum(kernels)
        end = 0.0
        for index, duration in enumerate(kernels):
            end = max(end, (index + 1) * self.launch_overhead_s) + duration
        return end
