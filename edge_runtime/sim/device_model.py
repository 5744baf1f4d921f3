"""The simulated Jetson's device model: engine latency and module power per power mode.

This is a stand-in for hardware this machine lacks, and says so everywhere it is used. It is a
roofline, layer by layer, with the few terms that matter at robot batch sizes:

* compute time = 2 x MACs / (peak rate of the lane at the mode's clock x efficiency); the peak
  is tensor-core (GPU) or convolution-core (DLA) operations per clock x units x clock, and the
  efficiency is a lane's best share of that peak, scaled down for layers too small to fill the
  lane (MACs per SM, or per DLA, against a half-fill point) and for layers too shallow to feed
  its multipliers (MACs per output element against the reduction depth: depthwise convolutions);
* memory time = bytes moved (activations in and out, weights once per batch) / (LPDDR5 bandwidth
  at the mode's EMC clock x efficiency);
* a layer takes the longer of the two plus a fixed per-layer cost that scales with the lane's
  clock, and each inference pays an enqueue/synchronise cost (scaling with the CPU clock on the
  GPU, where a CPU thread drives it; fixed on the DLA).

Power is idle power (a base, each online CPU core, and the leakage of the powered GPU SMs) plus
dynamic power per busy unit, scaling with units x clock x voltage^2, with voltage linear in the
clock, plus memory power while an accelerator streams. The coefficients live in
:class:`Calibration`; ``tools/calibrate_simulator.py`` fits them and ``docs/simulator.md`` lists
the published figures they were fitted to and the error on each.
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
    """Efficiency, overhead and power coefficients (fitted by ``tools/calibrate_simulator.py``
    to the published figures in ``edge_runtime/sim/reference/``; see docs/simulator.md)."""

    # --- latency: GPU --------------------------------------------------------------------------
    gpu_peak_efficiency: float = 0.4088
    """Share of the tensor-core peak a large, well-shaped layer reaches."""
    gpu_fill_macs_per_sm: float = 5.062e5
    """MACs per SM at which a layer reaches half of ``gpu_peak_efficiency``."""
    gpu_memory_efficiency: float = 0.9
    """Share of DRAM bandwidth streaming kernels reach."""
    gpu_reduction_depth: float = 32.0
    """MACs per output element (input channels per group x kernel area) a layer needs to feed
    the tensor cores fully; a depthwise 3x3 (9) runs at 9/32 of the rate."""
    gpu_layer_overhead_s: float = 1.811e-6
    """Fixed cost per layer (kernel launch, ramp and drain) at ``gpu_vmax_hz``; scales with
    1/GPU clock (CUDA graphs take the CPU off the per-layer path)."""
    gpu_inference_overhead_s: float = 1.995e-4
    """Enqueue, synchronise and copy cost per inference at ``cpu_vmax_hz``; scales with 1/CPU
    clock."""
    # --- latency: DLA --------------------------------------------------------------------------
    dla_peak_efficiency: float = 0.8398
    """Share of the DLA convolution-core peak a large layer reaches."""
    dla_fill_macs: float = 9.941e5
    """MACs per layer at which the DLA reaches half of ``dla_peak_efficiency``."""
    dla_memory_efficiency: float = 0.342
    """Share of DRAM bandwidth one DLA reaches."""
    dla_reduction_depth: float = 64.0
    """MACs per output element the DLA's convolution core needs to be fully fed (its INT8
    atomic channel count); shallower layers, depthwise above all, run proportionally slower."""
    dla_sparse_speedup: float = 1.45
    """Compute-time divisor for a 2:4-sparse layer on the DLA (fitted to the sparse rows of
    orin_dla_perf_by_power_mode.csv)."""
    gpu_sparse_speedup: float = 1.45
    """The same for the GPU's sparse tensor cores (no published Orin GPU figure: taken equal to
    the DLA's; NVIDIA quotes up to 2x peak math throughput)."""
    dla_layer_overhead_s: float = 1.167e-5
    """Per-layer cost on the DLA at ``dla_vmax_hz`` (its own sequencer; scales with 1/DLA
    clock, not with the CPU)."""
    dla_inference_overhead_s: float = 1.248e-4
    """Per-inference submit and synchronise cost of a DLA task."""
    fp32_penalty: float = 1.0
    """Extra slowdown of FP32 beyond the CUDA-core peak (1.0 = none)."""
    # --- power ---------------------------------------------------------------------------------
    idle_w: float = 1.813
    """Module power with every accelerator idle, before CPU cores and GPU leakage."""
    idle_w_per_online_cpu: float = 0.1215
    """Idle power per online CPU core."""
    cpu_w_per_core_ghz: float = 0.994
    """Dynamic power of one busy CPU core per GHz at the top voltage."""
    gpu_leak_w_per_sm: float = 0.08824
    """Leakage of each powered SM at the top voltage (scales with voltage; TPCs the mode
    power-gates do not leak)."""
    gpu_w_per_sm_ghz: float = 0.8401
    """Dynamic GPU power per SM per GHz at the top voltage."""
    dla_w_per_ghz: float = 1.366
    """Dynamic power of one busy DLA per GHz at the top voltage."""
    emc_w_per_ghz: float = 2.756
    """Memory-controller and DRAM power per GHz of EMC clock when an accelerator streams."""
    min_voltage_ratio: float = 0.7972
    """Voltage at zero clock relative to the voltage at the top clock (linear in between)."""
    # --- reference clocks (Orin silicon, the same on every module) -----------------------------
    cpu_vmax_hz: float = 2.2016e9
    """CPU clock at the top of the voltage curve; reference clock of the CPU-bound overhead."""
    gpu_vmax_hz: float = 1.3005e9
    """GPU clock at the top of the voltage curve; reference clock of the GPU layer overhead."""
    dla_vmax_hz: float = 1.6e9
    """DLA clock at the top of the voltage curve; reference clock of the DLA layer overhead."""
    # --- wall power (assumptions, not fitted) --------------------------------------------------
    wall_psu_efficiency: float = 0.88
    """AC adapter efficiency of a developer kit (assumed)."""
    wall_carrier_w: float = 1.5
    """Carrier board, fan and peripherals of a developer kit (assumed)."""


DEFAULT_CALIBRATION = Calibration()

_BYTES = {Precision.FP32: 4, Precision.FP16: 2, Precision.INT8: 1, Precision.BEST: 1}


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
        """Peak dense operations per second of ``lane`` in ``mode`` (2 operations per MAC)."""
        return self._peak_ops(self.clocks(mode), lane, precision)

    def _peak_ops(self, clocks: ModeClocks, lane: Lane, precision: Precision) -> float:
        hw = self.profile.hardware
        if lane.is_dla:
            per_clk = hw.dla_fp16_ops_per_clk if precision in (Precision.FP16, Precision.FP32) \
                else hw.dla_int8_ops_per_clk
            return per_clk * clocks.dla_hz[lane.dla_index]
        per_sm = {Precision.FP32: hw.gpu_fp32_ops_per_clk_per_sm,
                  Precision.FP16: hw.gpu_fp16_ops_per_clk_per_sm}.get(
            precision, hw.gpu_int8_ops_per_clk_per_sm)
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
        efficiency = cal.gpu_peak_efficiency
        if precision is Precision.FP32:
            efficiency /= cal.fp32_penalty
        return _LaneRates(
            peak_ops=self._peak_ops(clocks, lane, precision), efficiency=efficiency,
            fill_macs=cal.gpu_fill_macs_per_sm, fill_units=max(clocks.gpu_sms, 1),
            reduction_depth=cal.gpu_reduction_depth,
            bandwidth=clocks.memory_bandwidth * cal.gpu_memory_efficiency,
            layer_overhead_s=cal.gpu_layer_overhead_s * cal.gpu_vmax_hz / clocks.gpu_hz,
            inference_overhead_s=cal.gpu_inference_overhead_s * cal.cpu_vmax_hz / clocks.cpu_hz,
            bytes_per_element=_BYTES[precision], sparse_speedup=cal.gpu_sparse_speedup)

    def layer_time_s(self, layer: LayerCost, mode: PowerMode, lane: Lane,
                     precision: Precision, batch: int = 1) -> float:
        """Seconds one layer takes at ``batch`` x the profile's batch."""
        return self._rates(mode, lane, precision).layer_time_s(layer, batch)

    def latency_s(self, cost: CostProfile, mode: PowerMode, lane: Lane,
                  precision: Precision, batch: int = 1) -> float:
        """Seconds one inference of ``cost`` (``batch`` x its batch) takes on ``lane``."""
        rates = self._rates(mode, lane, precision)
        return rates.inference_overhead_s + sum(rates.layer_time_s(layer, batch)
                                                for layer in cost.layers)

    def throughput(self, cost: CostProfile, mode: PowerMode, lane: Lane, precision: Precision,
                   batch: int = 1) -> float:
        """Inferences (of ``cost``'s batch) per second with ``batch``-sized back-to-back runs."""
        return batch / self.latency_s(cost, mode, lane, precision, batch)

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
        return watts + min(streaming, 1.0) * cal.emc_w_per_ghz * clocks.emc_hz / 1e9

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

    def layer_time_s(self, layer: LayerCost, batch: int) -> float:
        macs = layer.macs * batch
        weights = layer.weight_elements * (SPARSE_WEIGHT_SHARE if layer.sparse else 1.0)
        bytes_moved = (layer.activation_elements * batch + weights) * self.bytes_per_element
        compute = 0.0
        if macs:
            per_unit = macs / self.fill_units
            efficiency = self.efficiency * per_unit / (per_unit + self.fill_macs)
            if layer.output_elements:
                depth = layer.macs / layer.output_elements
                efficiency *= min(1.0, depth / self.reduction_depth)
            compute = 2.0 * macs / (self.peak_ops * efficiency)
            if layer.sparse:
                compute /= self.sparse_speedup
        return max(compute, bytes_moved / self.bandwidth) + self.layer_overhead_s
