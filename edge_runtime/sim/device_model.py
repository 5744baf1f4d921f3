"""The simulated Jetson's device model: engine latency and module power per power mode.

This is a stand-in for hardware this machine lacks, and says so everywhere it is used. It is a
roofline, layer by layer, with the few terms that matter at robot batch sizes:

* compute time = 2 x MACs / (peak rate of the lane at the mode's clock x fill efficiency);
  the peak is tensor-core (GPU) or convolution-core (DLA) operations per clock x units x clock,
  and the fill efficiency grows with the work per unit (a tiny layer cannot fill 14 SMs);
* memory time = bytes moved / (LPDDR5 bandwidth at the mode's EMC clock x efficiency);
* a layer takes the longer of the two, plus a launch overhead that scales with the CPU clock
  (launches are issued by a CPU core), and each inference pays a fixed enqueue/sync cost.

Power is idle power plus dynamic power per busy unit, dynamic power scaling with units x clock x
voltage^2 and voltage rising linearly with clock. The coefficients live in :class:`Calibration`;
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
    """Efficiency and power coefficients of the model (fitted; see docs/simulator.md)."""

    gpu_peak_efficiency: float = 0.55
    """Share of the tensor-core peak a large, well-shaped layer reaches."""
    gpu_fill_macs_per_sm: float = 1.5e6
    """MACs per SM at which a layer reaches half of ``gpu_peak_efficiency``."""
    gpu_memory_efficiency: float = 0.70
    """Share of DRAM bandwidth streaming kernels reach."""
    gpu_layer_overhead_s: float = 6e-6
    """Launch cost per layer at the module's top CPU clock."""
    gpu_inference_overhead_s: float = 60e-6
    """Enqueue, synchronise and copy cost per inference at the top CPU clock."""
    dla_peak_efficiency: float = 0.45
    """Share of the DLA convolution-core peak a large layer reaches."""
    dla_fill_macs: float = 4e6
    """MACs per layer at which the DLA reaches half of ``dla_peak_efficiency``."""
    dla_memory_efficiency: float = 0.45
    """Share of DRAM bandwidth one DLA reaches."""
    dla_layer_overhead_s: float = 20e-6
    """Per-layer cost on the DLA (its own sequencer; does not scale with the CPU)."""
    dla_inference_overhead_s: float = 250e-6
    """Per-inference submit and synchronise cost of a DLA task."""
    fp32_penalty: float = 1.0
    """Extra slowdown of FP32 beyond the CUDA-core peak (1.0 = none)."""
    idle_w: float = 4.5
    """Module power with all accelerators idle, at the lowest mode's clocks."""
    idle_w_per_online_cpu: float = 0.25
    """Idle power per online CPU core."""
    gpu_w_per_sm_ghz: float = 1.15
    """Dynamic GPU power per SM per GHz at the top voltage."""
    dla_w_per_ghz: float = 2.0
    """Dynamic power of one busy DLA per GHz at the top voltage."""
    emc_w_per_ghz: float = 1.6
    """Memory-controller and DRAM power per GHz of EMC clock when an accelerator streams."""
    min_voltage_ratio: float = 0.62
    """Voltage at the lowest clock relative to the voltage at the top clock."""


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
        hw = self.profile.hardware
        clocks = self.clocks(mode)
        if lane.is_dla:
            per_clk = hw.dla_fp16_ops_per_clk if precision in (Precision.FP16, Precision.FP32) \
                else hw.dla_int8_ops_per_clk
            return per_clk * clocks.dla_hz[lane.dla_index]
        per_sm = {Precision.FP32: hw.gpu_fp32_ops_per_clk_per_sm,
                  Precision.FP16: hw.gpu_fp16_ops_per_clk_per_sm}.get(
            precision, hw.gpu_int8_ops_per_clk_per_sm)
        return per_sm * clocks.gpu_sms * clocks.gpu_hz

    def layer_time_s(self, layer: LayerCost, mode: PowerMode, lane: Lane,
                     precision: Precision, batch: int = 1) -> float:
        """Seconds one layer takes at ``batch`` x the profile's batch."""
        cal = self.calibration
        clocks = self.clocks(mode)
        macs = layer.macs * batch
        bytes_moved = (layer.activation_elements * batch + layer.weight_elements) \
            * _BYTES[precision]
        peak = self.peak_ops(mode, lane, precision)
        if lane.is_dla:
            efficiency = cal.dla_peak_efficiency * macs / (macs + cal.dla_fill_macs)
            bandwidth = clocks.memory_bandwidth * cal.dla_memory_efficiency
            overhead = cal.dla_layer_overhead_s
        else:
            per_sm = macs / max(clocks.gpu_sms, 1)
            efficiency = cal.gpu_peak_efficiency * per_sm / (per_sm + cal.gpu_fill_macs_per_sm)
            if precision is Precision.FP32:
                efficiency /= cal.fp32_penalty
            bandwidth = clocks.memory_bandwidth * cal.gpu_memory_efficiency
            overhead = cal.gpu_layer_overhead_s * self._cpu_slowdown(clocks)
        compute = 2.0 * macs / (peak * efficiency) if macs else 0.0
        memory = bytes_moved / bandwidth
        return max(compute, memory) + overhead

    def latency_s(self, cost: CostProfile, mode: PowerMode, lane: Lane,
                  precision: Precision, batch: int = 1) -> float:
        """Seconds one inference of ``cost`` takes on ``lane`` in ``mode``."""
        if lane is Lane.CPU:
            raise ValueError("the simulated Jetson models the GPU and DLAs, not CPU engines")
        clocks = self.clocks(mode)
        cal = self.calibration
        if lane.is_dla:
            if lane.dla_index >= len(clocks.dla_hz) or clocks.dla_hz[lane.dla_index] <= 0:
                raise ValueError(f"{self.profile.name} has no {lane.value}")
            fixed = cal.dla_inference_overhead_s
        else:
            fixed = cal.gpu_inference_overhead_s * self._cpu_slowdown(clocks)
        layers = sum(self.layer_time_s(layer, mode, lane, precision, batch)
                     for layer in cost.layers)
        return fixed + layers

    def _cpu_slowdown(self, clocks: ModeClocks) -> float:
        return self.profile.hardware.cpu_max_khz * 1e3 / clocks.cpu_hz

    # --- power ---------------------------------------------------------------------------------

    def _voltage_sq(self, hz: float, max_hz: float) -> float:
        low = self.calibration.min_voltage_ratio
        ratio = low + (1.0 - low) * min(hz / max_hz, 1.0)
        return ratio * ratio

    def power_w(self, mode: PowerMode, utilisation: Mapping[Lane, float]) -> float:
        """Estimated module power with each lane busy the given share of the time (0..1)."""
        hw = self.profile.hardware
        cal = self.calibration
        clocks = self.clocks(mode)
        watts = cal.idle_w + cal.idle_w_per_online_cpu * clocks.cpu_online
        gpu_util = min(max(utilisation.get(Lane.GPU, 0.0), 0.0), 1.0)
        watts += gpu_util * cal.gpu_w_per_sm_ghz * clocks.gpu_sms * clocks.gpu_hz / 1e9 \
            * self._voltage_sq(clocks.gpu_hz, hw.gpu_max_hz)
        streaming = gpu_util
        for index, dla_hz in enumerate(clocks.dla_hz):
            lane = Lane.DLA0 if index == 0 else Lane.DLA1
            util = min(max(utilisation.get(lane, 0.0), 0.0), 1.0)
            watts += util * cal.dla_w_per_ghz * dla_hz / 1e9 * self._voltage_sq(
                dla_hz, float(hw.dla_max_hz or dla_hz or 1.0))
            streaming += util
        watts += min(streaming, 1.0) * cal.emc_w_per_ghz * clocks.emc_hz / 1e9
        return watts
