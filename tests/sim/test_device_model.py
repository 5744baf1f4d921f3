"""The roofline by hand: a made-up module with round numbers, and layers whose times can be
worked out on paper."""

from __future__ import annotations

import dataclasses

import pytest

from edge_runtime.config.power import HardwareSpec, PowerMode, PowerProfile
from edge_runtime.config.recipe import Precision
from edge_runtime.graph.analysis import CostProfile, LayerCost
from edge_runtime.sim.device_model import DEFAULT_CALIBRATION, Calibration, DeviceModel, Lane

INT8 = Precision.INT8
# 1 GHz everywhere, 4 SMs x 1000 INT8 ops/clk = 4 TOPS; one DLA at 2000 ops/clk = 2 TOPS;
# 64-bit bus at 1 GHz EMC = 16 GB/s; CPU top clock 2 GHz.
HARDWARE = HardwareSpec(
    cpu_cores=4, cpu_max_khz=2_000_000, gpu_tpcs=2, gpu_sms_per_tpc=2, gpu_max_hz=1_000_000_000,
    gpu_int8_ops_per_clk_per_sm=1000, gpu_fp16_ops_per_clk_per_sm=500,
    gpu_fp32_ops_per_clk_per_sm=100, dla_cores=1, dla_max_hz=1_000_000_000,
    dla_int8_ops_per_clk=2000, dla_fp16_ops_per_clk=1000, emc_max_hz=1_000_000_000,
    memory_bus_bits=64)
FULL = PowerMode(id=0, name="FULL", cpu_online=4, gpu_tpcs=2)
SLOW = PowerMode(id=1, name="SLOW", cpu_online=2, cpu_max_khz=1_000_000, gpu_tpcs=1,
                 gpu_max_hz=500_000_000, dla_max_hz=[500_000_000], emc_max_hz=500_000_000)
PROFILE = PowerProfile(module="test-module", name="Test module", hardware=HARDWARE,
                       default_mode=0, modes=[FULL, SLOW])
#: No fill or depth penalty, no overheads, one efficiency for every precision: times are pure
#: roofline.
PLAIN = dataclasses.replace(
    DEFAULT_CALIBRATION, gpu_peak_efficiency=0.5, gpu_fp16_peak_efficiency=0.5,
    gpu_tf32_peak_efficiency=0.5, gpu_half_fill_channels=0.0, gpu_half_fill_positions=0.0,
    gpu_memory_efficiency=0.5, gpu_reduction_depth=1.0, gpu_layer_overhead_s=0.0,
    gpu_stream_launch_s=0.0, gpu_launch_overhead_s=0.0,
    gpu_inference_overhead_s=0.0, dla_peak_efficiency=0.25, dla_fill_macs=0.0,
    dla_memory_efficiency=0.25, dla_reduction_depth=1.0, dla_layer_overhead_s=0.0,
    dla_inference_overhead_s=0.0, cpu_vmax_hz=2e9, gpu_vmax_hz=1e9, dla_vmax_hz=1e9)


def conv(macs: int, out: int = 1000, inputs: int = 1000, weights: int = 1000,
         channels: int = 0) -> LayerCost:
    return LayerCost("conv", "Conv", macs, inputs, out, weights, output_channels=channels)


def elementwise(elements: int) -> LayerCost:
    return LayerCost("add", "Add", 0, elements, elements, 0)


def model(calibration: Calibration = PLAIN) -> DeviceModel:
    return DeviceModel(PROFILE, calibration)


def test_clocks_and_peaks_come_from_the_mode() -> None:
    clocks = model().clocks(SLOW)
    assert (clocks.gpu_sms, clocks.gpu_hz, clocks.cpu_hz) == (2, 5e8, 1e9)
    assert clocks.memory_bandwidth == pytest.approx(2 * 5e8 * 64 / 8)  # 8 GB/s
    assert model().peak_ops(FULL, Lane.GPU, INT8) == pytest.approx(4e12)
    assert model().peak_ops(SLOW, Lane.GPU, INT8) == pytest.approx(2 * 1000 * 5e8)
    assert model().peak_ops(FULL, Lane.DLA0, INT8) == pytest.approx(2e12)
    assert model().peak_ops(FULL, Lane.GPU, Precision.FP16) == pytest.approx(2e12)
    # FP32 convolutions run on the TF32 tensor cores: half the FP16 rate, not the CUDA cores'
    assert model().peak_ops(FULL, Lane.GPU, Precision.FP32) == pytest.approx(1e12)


def test_a_big_convolution_is_compute_bound() -> None:
    layer = conv(macs=10**10)  # 20 GOP at 4 TOPS x 0.5 = 10 ms; its 2 kB of traffic is nothing
    assert model().layer_time_s(layer, FULL, Lane.GPU, INT8) == pytest.approx(2e10 / (4e12 * 0.5))
    # With the default calibration a layer this size and shape (1024 channels, 4096 positions
    # per SM) nearly fills the GPU: time ~ 2 MACs / (peak x eff).
    fitted = model(DEFAULT_CALIBRATION)
    wide = conv(macs=10**10, out=1024 * 16384, channels=1024)
    expected = 2e10 / (4e12 * DEFAULT_CALIBRATION.gpu_peak_efficiency)
    assert fitted.layer_time_s(wide, FULL, Lane.GPU, INT8) == pytest.approx(expected, rel=0.02)


def test_a_huge_elementwise_layer_is_memory_bound() -> None:
    layer = elementwise(10**9)  # 2 GB through 16 GB/s x 0.5 = 0.25 s, no MACs
    assert model().layer_time_s(layer, FULL, Lane.GPU, INT8) == pytest.approx(2e9 / 8e9)
    assert model().layer_time_s(layer, FULL, Lane.GPU, Precision.FP16) == pytest.approx(4e9 / 8e9)
    # Half the EMC clock, twice the time; the GPU clock does not matter.
    assert model().layer_time_s(layer, SLOW, Lane.GPU, INT8) == pytest.approx(2 * 2e9 / 8e9)


def test_a_layer_takes_the_longer_of_compute_and_memory() -> None:
    layer = conv(macs=10**9, inputs=10**9)  # 1 ms compute vs 125 ms memory
    assert model().layer_time_s(layer, FULL, Lane.GPU, INT8) == pytest.approx(0.125, rel=1e-3)


def test_shallow_layers_run_below_the_peak() -> None:
    calibration = dataclasses.replace(PLAIN, gpu_reduction_depth=32.0,
                                      gpu_memory_efficiency=1e6)  # take memory out of the way
    device = model(calibration)
    big = conv(macs=4 * 10**9, out=10**7)  # depth 400
    depthwise = conv(macs=9 * 10**9, out=10**9)  # 9 MACs per output: 9/32 of the efficiency
    per_op = [device.layer_time_s(layer, FULL, Lane.GPU, INT8) / layer.macs
              for layer in (big, depthwise)]
    assert per_op[1] / per_op[0] == pytest.approx(32 / 9, rel=1e-2)
    # one MMA reduces 32 bytes: 16 FP16 values, so the same depthwise layer loses less in FP16
    fp16 = [device.layer_time_s(layer, FULL, Lane.GPU, Precision.FP16) / layer.macs
            for layer in (big, depthwise)]
    assert fp16[1] / fp16[0] == pytest.approx(16 / 9, rel=1e-2)


def test_batch_multiplies_work_but_weights_are_read_once() -> None:
    layer = LayerCost("fc", "Gemm", 0, 0, 0, 10**8)  # 100 MB of weights, nothing else
    device = model()
    assert device.layer_time_s(layer, FULL, Lane.GPU, INT8, batch=8) == pytest.approx(
        device.layer_time_s(layer, FULL, Lane.GPU, INT8, batch=1))
    big = conv(macs=10**10)
    assert device.layer_time_s(big, FULL, Lane.GPU, INT8, batch=4) == pytest.approx(
        4 * device.layer_time_s(big, FULL, Lane.GPU, INT8))


def test_overheads_scale_with_their_clocks() -> None:
    calibration = dataclasses.replace(PLAIN, gpu_layer_overhead_s=1e-5,
                                      gpu_inference_overhead_s=1e-4, dla_layer_overhead_s=2e-5,
                                      dla_inference_overhead_s=3e-4)
    device = model(calibration)
    cost = CostProfile((LayerCost("nop", "Identity", 0, 0, 0, 0),) * 10, {})
    assert device.latency_s(cost, FULL, Lane.GPU, INT8) == pytest.approx(1e-4 + 10 * 1e-5)
    # SLOW: CPU at half the reference clock, GPU at half its clock.
    assert device.latency_s(cost, SLOW, Lane.GPU, INT8) == pytest.approx(2e-4 + 10 * 2e-5)
    assert device.latency_s(cost, FULL, Lane.DLA0, INT8) == pytest.approx(3e-4 + 10 * 2e-5)
    assert device.latency_s(cost, SLOW, Lane.DLA0, INT8) == pytest.approx(3e-4 + 10 * 4e-5)


def test_latency_is_the_sum_of_its_layers() -> None:
    """In a CUDA graph; launched kernel by kernel see test_effects.py."""
    device = model(DEFAULT_CALIBRATION)
    layers = (conv(10**8), elementwise(10**6), conv(10**6, out=10**5))
    cost = CostProfile(layers, {})
    total = sum(device.layer_time_s(layer, FULL, Lane.GPU, INT8, cuda_graph=True)
                for layer in layers)
    fixed = DEFAULT_CALIBRATION.gpu_inference_overhead_s * DEFAULT_CALIBRATION.cpu_vmax_hz / 2e9
    assert device.latency_s(cost, FULL, Lane.GPU, INT8, cuda_graph=True) == pytest.approx(
        total + fixed)
    assert device.throughput(cost, FULL, Lane.GPU, INT8, batch=2) == pytest.approx(
        2 / device.latency_s(cost, FULL, Lane.GPU, INT8, batch=2))


def test_dla_on_a_module_without_dla_raises() -> None:
    hardware = HARDWARE.model_copy(update={"dla_cores": 0, "dla_max_hz": None})
    profile = PowerProfile(module="no-dla", name="No DLA", hardware=hardware, default_mode=0,
                           modes=[FULL])
    cost = CostProfile((conv(10**6),), {})
    with pytest.raises(ValueError, match="dla0"):
        DeviceModel(profile).latency_s(cost, FULL, Lane.DLA0, INT8)
    with pytest.raises(ValueError, match="dla1"):  # this module has one DLA
        model().latency_s(cost, FULL, Lane.DLA1, INT8)
    with pytest.raises(ValueError, match="CPU"):
        model().latency_s(cost, FULL, Lane.CPU, INT8)


def test_idle_and_busy_power_by_hand() -> None:
    calibration = dataclasses.replace(
        PLAIN, idle_w=2.0, idle_w_per_online_cpu=0.5, cpu_w_per_core_ghz=1.0,
        gpu_leak_w_per_sm=0.25, gpu_w_per_sm_ghz=2.0, dla_w_per_ghz=3.0, emc_w_per_ghz=4.0,
        min_voltage_ratio=0.5, cpu_vmax_hz=2e9, wall_psu_efficiency=0.8, wall_carrier_w=2.0,
        emc_reference_bus_bits=64)  # the test module's bus: 4 W/GHz of EMC clock
    device = model(calibration)
    idle = 2.0 + 4 * 0.5 + 4 * 0.25  # base + online cores + leakage of 4 SMs at full voltage
    assert device.power_w(FULL, {}) == pytest.approx(idle)
    gpu = 4 * 2.0 * 1.0  # 4 SMs x 2 W/GHz x 1 GHz x V^2 = 1
    assert device.power_w(FULL, {Lane.GPU: 1.0}) == pytest.approx(idle + gpu + 4.0)
    assert device.power_w(FULL, {Lane.GPU: 0.5}) == pytest.approx(idle + gpu / 2 + 2.0)
    assert device.power_w(FULL, {Lane.DLA0: 1.0}) == pytest.approx(idle + 3.0 + 4.0)
    assert device.power_w(FULL, {Lane.CPU: 1.0}) == pytest.approx(idle + 4 * 1.0 * 2.0)
    assert device.lane_power_w(FULL, Lane.GPU) == pytest.approx(1.0 + gpu)
    # SLOW: 2 SMs at 0.5 GHz, V = 0.75; EMC at 0.5 GHz.
    slow_idle = 2.0 + 2 * 0.5 + 2 * 0.25 * 0.75
    assert device.power_w(SLOW, {Lane.GPU: 1.0}) == pytest.approx(
        slow_idle + 2 * 2.0 * 0.5 * 0.75**2 + 4.0 * 0.5)
    assert device.wall_power_w(10.0) == pytest.approx((10.0 + 2.0) / 0.8)
