"""Each physical effect of the device model, on its own: switched on, it moves the time (or the
watts) the way the physics says; switched off (its coefficient at 0, or the flag off), the
figure it explains is lost. The hand-built module of test_device_model.py keeps the numbers
round."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_runtime.config import load_power_profile
from edge_runtime.config.recipe import Precision
from edge_runtime.graph.analysis import CostProfile, LayerCost, analyse
from edge_runtime.sim.calibration_report import ReferenceResult, calibration_report
from edge_runtime.sim.device_model import DEFAULT_CALIBRATION, Calibration, DeviceModel, Lane
from edge_runtime.sim.reference_models import reference_cost
from tests.sim.test_device_model import FULL, HARDWARE, PLAIN, PROFILE, SLOW, conv, model

INT8, FP16, FP32 = Precision.INT8, Precision.FP16, Precision.FP32
#: Memory out of the way: compute-bound layers only.
COMPUTE = dataclasses.replace(PLAIN, gpu_memory_efficiency=1e9)


def yolo_figure(size: str, precision: str, device: str = "Orin Nano Super MAXN_SUPER",
                calibration: Calibration = DEFAULT_CALIBRATION) -> ReferenceResult:
    """One YOLO11 figure of Ultralytics' table under ``calibration``."""
    return figure(f"YOLO11{size} 640 {precision} bs1, {device}", calibration)


def figure(title: str, calibration: Calibration = DEFAULT_CALIBRATION) -> ReferenceResult:
    (result,) = [r for r in calibration_report(calibration) if r.figure == title]
    return result


# --- FP32 runs on TF32 tensor cores --------------------------------------------------------------

def test_fp32_convolutions_run_at_the_tf32_rate_not_the_cuda_core_rate() -> None:
    layer = conv(macs=10**10)
    tf32 = model(COMPUTE).layer_time_s(layer, FULL, Lane.GPU, FP32)
    # 4 SMs x 500 FP16 ops/clk x 1/2 (TF32) x 1 GHz = 1 TOPS at 50%: 20 GOP in 40 ms
    assert tf32 == pytest.approx(2e10 / (1e12 * 0.5))
    assert tf32 == pytest.approx(2 * model(COMPUTE).layer_time_s(layer, FULL, Lane.GPU, FP16))
    cuda_cores = dataclasses.replace(COMPUTE, gpu_tf32_rate=0.0)
    # without TF32: 4 x 100 FP32 ops/clk = 0.4 TOPS, 2.5x slower than TF32
    assert model(cuda_cores).layer_time_s(layer, FULL, Lane.GPU, FP32) == pytest.approx(
        2.5 * tf32)
    # and FP32 data is 4 bytes wherever it runs
    add = LayerCost("add", "Add", 0, 10**9, 10**9, 0)
    assert model(PLAIN).layer_time_s(add, FULL, Lane.GPU, FP32) == pytest.approx(
        2 * model(PLAIN).layer_time_s(add, FULL, Lane.GPU, FP16))


def test_without_tf32_the_published_fp32_figures_are_out_of_reach() -> None:
    """Ultralytics' YOLO11x FP32 engine on the Orin Nano Super: 67 ms; at the CUDA-core rate
    the same network would take about three times as long."""
    assert abs(yolo_figure("x", "FP32").relative_error) < 0.15
    cuda_cores = dataclasses.replace(DEFAULT_CALIBRATION, gpu_tf32_rate=0.0)
    assert yolo_figure("x", "FP32", calibration=cuda_cores).relative_error > 1.0


# --- efficiency per precision --------------------------------------------------------------------

def test_each_precision_has_its_own_share_of_its_peak() -> None:
    calibration = dataclasses.replace(COMPUTE, gpu_peak_efficiency=0.3,
                                      gpu_fp16_peak_efficiency=0.5)
    layer = conv(macs=10**10)
    int8 = model(calibration).layer_time_s(layer, FULL, Lane.GPU, INT8)
    fp16 = model(calibration).layer_time_s(layer, FULL, Lane.GPU, FP16)
    assert fp16 / int8 == pytest.approx(2 * 0.3 / 0.5)  # twice the peak, 60% of the share
    cal = DEFAULT_CALIBRATION
    assert cal.gpu_peak_efficiency < cal.gpu_fp16_peak_efficiency  # INT8 is less than 2x FP16


def test_the_int8_to_fp16_ratio_follows_the_published_one() -> None:
    """YOLO11x on the Orin Nano Super: INT8 20.7 ms, FP16 32.9 ms, a ratio of 0.63 (not the
    0.5 of the peaks); with one share for both precisions the model says 0.58."""
    def ratio(calibration: Calibration, kind: str) -> float:
        int8, fp16 = (getattr(yolo_figure("x", precision, calibration=calibration), kind)
                      for precision in ("INT8", "FP16"))
        return float(int8 / fp16)

    published = ratio(DEFAULT_CALIBRATION, "measured")
    assert published == pytest.approx(0.629, abs=0.001)
    assert ratio(DEFAULT_CALIBRATION, "predicted") == pytest.approx(published, abs=0.02)
    one_share = dataclasses.replace(
        DEFAULT_CALIBRATION, gpu_peak_efficiency=DEFAULT_CALIBRATION.gpu_fp16_peak_efficiency)
    assert ratio(one_share, "predicted") < published - 0.04


# --- thin layers and small feature maps under-fill the tensor cores ------------------------------

def test_thin_layers_run_below_the_peak() -> None:
    calibration = dataclasses.replace(COMPUTE, gpu_half_fill_channels=16.0)
    thin = conv(macs=10**10, out=16 * 10**6, channels=16)
    wide = conv(macs=10**10, out=256 * 10**6, channels=256)
    device = model(calibration)
    ratio = device.layer_time_s(thin, FULL, Lane.GPU, INT8) \
        / device.layer_time_s(wide, FULL, Lane.GPU, INT8)
    assert ratio == pytest.approx((16 + 16) / 16 / ((256 + 16) / 256))
    # with the term off they are the same work at the same rate
    assert model(COMPUTE).layer_time_s(thin, FULL, Lane.GPU, INT8) == pytest.approx(
        model(COMPUTE).layer_time_s(wide, FULL, Lane.GPU, INT8))


def test_small_feature_maps_run_below_the_peak_and_fill_with_the_batch() -> None:
    calibration = dataclasses.replace(COMPUTE, gpu_half_fill_positions=64.0)
    device = model(calibration)
    small = conv(macs=10**9, out=256 * 49, channels=256)  # 7x7: 49 positions over 4 SMs
    large = conv(macs=10**9, out=256 * 64 * 4096, channels=256)
    per_sm = 49 / 4
    ratio = device.layer_time_s(small, FULL, Lane.GPU, INT8) \
        / device.layer_time_s(large, FULL, Lane.GPU, INT8)
    assert ratio == pytest.approx((per_sm + 64) / per_sm, rel=1e-3)
    # a batch of 64 gives the same layer 64x the rows: nearly full, per image much faster
    per_image = [device.layer_time_s(small, FULL, Lane.GPU, INT8, batch) / batch
                 for batch in (1, 64)]
    assert per_image[1] < per_image[0] / 4
    # fewer SMs (SLOW has 2) are easier to fill: more rows each
    slow = device.layer_time_s(small, SLOW, Lane.GPU, INT8)
    full = device.layer_time_s(small, FULL, Lane.GPU, INT8)
    assert slow < 4 * full  # half the SMs at half the clock, but fuller


def test_batch_one_under_fill_is_part_of_the_resnet50_singlestream_fit() -> None:
    """MLPerf ResNet-50 at batch 1 (0.633 ms, its last stage a 7x7 map over 16 SMs) and at
    batch 256 on the same GPU: the feature-map term slows the first and not the second."""
    def errors(calibration: Calibration) -> tuple[float, float]:
        return (figure("ResNet-50 SingleStream MaxP (v3.0) p90_latency",
                       calibration).relative_error,
                figure("ResNet-50 Offline MaxP expected_qps_gpu_only (bs 256)",
                       calibration).relative_error)

    single, offline = errors(DEFAULT_CALIBRATION)
    assert abs(single) < 0.05 and abs(offline) < 0.25
    single_off, offline_off = errors(dataclasses.replace(DEFAULT_CALIBRATION,
                                                         gpu_half_fill_positions=0.0))
    assert single_off < single - 0.08  # batch 1 too fast without it
    assert offline_off == pytest.approx(offline, abs=0.01)  # batch 256 fills the SMs anyway


# --- kernel launches -----------------------------------------------------------------------------

def nops(count: int) -> CostProfile:
    return CostProfile((LayerCost("nop", "Identity", 0, 0, 0, 0),) * count, {})


def test_kernels_shorter_than_a_launch_leave_the_gpu_waiting() -> None:
    calibration = dataclasses.replace(PLAIN, gpu_launch_overhead_s=1e-5)  # 10 us at 2 GHz
    device = model(calibration)
    # 10 empty kernels: the GPU waits for each launch; the last ends 10 launches in
    assert device.latency_s(nops(10), FULL, Lane.GPU, INT8) == pytest.approx(10 * 1e-5)
    # SLOW's CPU runs at half the reference clock: launches take twice as long
    assert device.latency_s(nops(10), SLOW, Lane.GPU, INT8) == pytest.approx(10 * 2e-5)
    # one CUDA graph launches them all at once
    assert device.latency_s(nops(10), FULL, Lane.GPU, INT8, cuda_graph=True) == 0.0


def test_long_kernels_hide_the_launches() -> None:
    calibration = dataclasses.replace(COMPUTE, gpu_launch_overhead_s=1e-5)
    device = model(calibration)
    layer = conv(macs=10**8)  # 0.2 GOP at 2 TOPS: 100 us, ten launches long
    cost = CostProfile((layer,) * 10, {})
    kernel = device.layer_time_s(layer, FULL, Lane.GPU, INT8)
    assert kernel == pytest.approx(1e-4)
    # only the first launch is exposed; the CPU stays ahead of the GPU after it
    assert device.latency_s(cost, FULL, Lane.GPU, INT8) == pytest.approx(1e-5 + 10 * kernel)
    assert device.latency_s(cost, FULL, Lane.GPU, INT8, cuda_graph=True) == pytest.approx(
        10 * kernel)


def test_a_cuda_graph_hides_the_launches_only_partly() -> None:
    calibration = dataclasses.replace(PLAIN, gpu_layer_overhead_s=2e-6, gpu_stream_launch_s=8e-6)
    device = model(calibration)
    assert device.latency_s(nops(10), FULL, Lane.GPU, INT8) == pytest.approx(10 * 1e-5)
    assert device.latency_s(nops(10), FULL, Lane.GPU, INT8, cuda_graph=True) == pytest.approx(
        10 * 2e-6)
    # both are device time: they scale with the GPU clock (SLOW: half)
    assert device.latency_s(nops(10), SLOW, Lane.GPU, INT8, cuda_graph=True) == pytest.approx(
        10 * 4e-6)
    cal = DEFAULT_CALIBRATION
    assert cal.gpu_layer_overhead_s > 0 and cal.gpu_stream_launch_s > 0
    assert cal.gpu_launch_overhead_s > 0


def test_launch_costs_are_what_makes_yolo11n_take_4_ms() -> None:
    """YOLO11n INT8 on the Orin Nano Super: 3.9 ms for 3.3 GMACs (the GPU's INT8 peak would
    do them in 0.2 ms); without per-kernel launch costs the model is several times too fast."""
    assert abs(yolo_figure("n", "INT8").relative_error) < 0.15
    free = dataclasses.replace(DEFAULT_CALIBRATION, gpu_stream_launch_s=0.0,
                               gpu_launch_overhead_s=0.0)
    assert yolo_figure("n", "INT8", calibration=free).relative_error < -0.3
    # MLPerf's CUDA-graph runs do not see the launch costs at all
    title = "ResNet-50 SingleStream MaxP (v3.0) p90_latency"
    assert figure(title, free).predicted == pytest.approx(figure(title).predicted)


def test_the_dla_has_no_per_kernel_launches() -> None:
    calibration = dataclasses.replace(PLAIN, gpu_launch_overhead_s=1e-3,
                                      gpu_stream_launch_s=1e-3)
    assert model(calibration).latency_s(nops(10), FULL, Lane.DLA0, INT8) == 0.0


def test_concatenation_costs_nothing() -> None:
    concat = LayerCost("cat", "Concat", 0, 10**8, 10**8, 0)
    assert model(DEFAULT_CALIBRATION).layer_time_s(concat, FULL, Lane.GPU, INT8) == 0.0
    calibration = dataclasses.replace(PLAIN, gpu_launch_overhead_s=1e-5)
    with_concat = CostProfile((*nops(3).layers, concat), {})
    assert model(calibration).latency_s(with_concat, FULL, Lane.GPU, INT8) == pytest.approx(
        model(calibration).latency_s(nops(3), FULL, Lane.GPU, INT8))


# --- memory power and bus width ------------------------------------------------------------------

def test_memory_power_scales_with_the_bus_width() -> None:
    wide = PROFILE.model_copy(update={"hardware": HARDWARE.model_copy(
        update={"memory_bus_bits": 256})})
    narrow = PROFILE.model_copy(update={"hardware": HARDWARE.model_copy(
        update={"memory_bus_bits": 128})})
    calibration = dataclasses.replace(PLAIN, emc_w_per_ghz=4.0)
    wide_w = DeviceModel(wide, calibration).memory_power_w(FULL)
    narrow_w = DeviceModel(narrow, calibration).memory_power_w(FULL)
    assert wide_w == pytest.approx(4.0)  # 4 W/GHz at 1 GHz on the reference 256 bits
    assert narrow_w == pytest.approx(2.0)
    streaming = {Lane.GPU: 1.0}
    assert DeviceModel(wide, calibration).power_w(FULL, streaming) \
        - DeviceModel(narrow, calibration).power_w(FULL, streaming) == pytest.approx(2.0)


def test_128_bit_modules_draw_about_their_nvpmodel_budgets() -> None:
    """Flat out, an Orin NX in its 15W mode draws ~15 W in the model; with the AGX's 256-bit
    memory power it would be 20 W (the error the bus-width term removes)."""
    nx = load_power_profile("jetson-orin-nx-16gb-jp5")
    mode = nx.find_mode("15W")
    assert mode is not None
    full = {Lane.GPU: 1.0, Lane.DLA0: 1.0, Lane.DLA1: 1.0, Lane.CPU: 1.0}
    assert DeviceModel(nx).power_w(mode, full) == pytest.approx(15.0, rel=0.15)
    as_256 = dataclasses.replace(DEFAULT_CALIBRATION, emc_reference_bus_bits=128)
    assert DeviceModel(nx, as_256).power_w(mode, full) > 15.0 * 1.25


# --- SiLU as Sigmoid + Mul fuses into the convolution --------------------------------------------

def silu_block(channels: int = 16, size: int = 64):  # type: ignore[no-untyped-def]
    """x -> Conv3x3 -> (y * Sigmoid(y)) -> Conv1x1 -> (z * Sigmoid(z)), as PyTorch exports SiLU."""
    weights = [numpy_helper.from_array(np.zeros(shape, np.float32), name) for name, shape in
               (("w1", (channels, 3, 3, 3)), ("w2", (channels, channels, 1, 1)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["y"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["y"], ["ys"]),
             helper.make_node("Mul", ["y", "ys"], ["ya"]),
             helper.make_node("Conv", ["ya", "w2"], ["z"]),
             helper.make_node("Sigmoid", ["z"], ["zs"]),
             helper.make_node("Mul", ["zs", "z"], ["out"])]  # either operand order
    graph = helper.make_graph(
        nodes, "silu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, channels, size, size])],
        weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_sigmoid_and_mul_fuse_into_the_convolution() -> None:
    cost = analyse(silu_block(), {"x": [1, 3, 64, 64]})
    assert [(layer.op_type, layer.fused) for layer in cost.layers] == [
        ("Conv", ("Sigmoid", "Mul")), ("Conv", ("Sigmoid", "Mul"))]
    # no extra traffic: each layer reads its input and writes one output
    assert cost.layers[1].input_elements == 16 * 64 * 64
    assert cost.layers[1].output_elements == 16 * 64 * 64
    assert [layer.output_channels for layer in cost.layers] == [16, 16]


def test_unfused_silu_would_cost_two_kernels_and_their_traffic_per_convolution() -> None:
    """The same block with the first convolution's output also a graph output cannot fuse
    its SiLU (TensorRT must write the pre-activation tensor): a Sigmoid and a Mul kernel more,
    reading and writing the whole tensor, slower on the device."""
    model_ = silu_block()
    fused = analyse(model_, {"x": [1, 3, 64, 64]})
    model_.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
    unfused = analyse(model_, {"x": [1, 3, 64, 64]})
    assert len(unfused.layers) == len(fused.layers) + 2
    orin = load_power_profile("jetson-orin-nano-8gb")
    mode = orin.find_mode("MAXN_SUPER")
    assert mode is not None
    device = DeviceModel(orin)
    assert device.latency_s(unfused, mode, Lane.GPU, FP16) \
        > device.latency_s(fused, mode, Lane.GPU, FP16)


def test_yolo11_exports_fuse_every_silu() -> None:
    cost = reference_cost("yolo11n")
    assert not any(layer.op_type in ("Sigmoid", "Mul") for layer in cost.layers[:-12])
    fused = sum(layer.fused[:2] == ("Sigmoid", "Mul") for layer in cost.layers)
    assert fused >= 70  # every Conv block of the network (the head's last convs have none)
