"""`edge-runtime doctor`'s checks over a fake Jetson tree (tests/fake_jetson.py) and over this
machine, and what a pipeline set needs from them."""

from __future__ import annotations

import json
import shutil
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_runtime.config.loading import LoadedPipelineSet, load_pipeline_set
from edge_runtime.config.recipe import BackendName
from edge_runtime.doctor import (
    SIMULATED,
    Check,
    Host,
    check_cache,
    diagnose,
    needs_of,
    probe_tensorrt,
    ready,
)
from tests.conftest import REPO
from tests.fake_jetson import (
    AGX_ORIN_DLAS,
    AGX_ORIN_RAIL_MW,
    FakeRunner,
    fake_orin,
    jetson_modules,
    module,
)

Write = Callable[[str, str], Path]
NO_TENSORRT_HERE = probe_tensorrt(Host())[0] is None


def pipeline_set(write: Write, *, backend: str = "tensorrt", target: str = "dla0",
                 source: str = "{type: synthetic_camera, width: 64, height: 48, fps: 20}"
                 ) -> LoadedPipelineSet:
    """One pipeline whose engine is built for ``target`` on ``backend``."""
    write("engine.yaml", f"""
        onnx: tiny.onnx
        backend: {backend}
        target: {{device: {target}}}
    """)
    return load_pipeline_set(write("set.yaml", f"""
        device: jetson-agx-orin-32gb
        pipelines:
          - name: rear
            source: {source}
            engine: engine.yaml
    """))


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.fixture
def dla_set(write: Write, tiny_onnx: Path) -> LoadedPipelineSet:
    del tiny_onnx
    return pipeline_set(write)


# --- the fake AGX Orin ---------------------------------------------------------------------------


def test_a_fake_agx_orin_is_all_green_for_a_set_needing_a_dla(
        tmp_path: Path, dla_set: LoadedPipelineSet) -> None:
    runner = FakeRunner()
    host = fake_orin(tmp_path, runner=runner)
    needs, checks = diagnose(host, cache_dir=tmp_path / "cache", pipelines=dla_set)
    assert [c.name for c in checks if c.ok is not True] == []
    assert ready(checks)
    assert needs.tensorrt == ("rear",) and needs.dla_cores == 1
    found = by_name(checks)
    assert {name for name, c in found.items() if c.required} == {
        "Python", "onnxruntime", "TensorRT", "CUDA Python", "engine cache", "Jetson module",
        "DLA cores"}
    assert found["Jetson module"].found == "NVIDIA Jetson AGX Orin Developer Kit"
    assert found["DLA cores"].found.startswith(f"2 ({', '.join(AGX_ORIN_DLAS)})")
    assert found["TensorRT"].found == "10.3.0.30"
    assert found["CUDA Python"].found == "cuda-python 12.6.2"
    assert "TensorrtExecutionProvider" in found["onnxruntime"].found
    assert found["systemd unit"].found == "edge-runtime.service enabled, active"
    assert all(c.fix is None for c in checks)
    nvpmodel = str(tmp_path / "bin" / "nvpmodel")
    assert [str(tmp_path / "bin" / "sudo"), "-n", "-l", nvpmodel, "-m", "0"] in runner.calls


def test_rails_are_labelled_in_milliwatts_without_nc_and_sum_channels(tmp_path: Path) -> None:
    rails = by_name(diagnose(fake_orin(tmp_path), cache_dir=tmp_path)[1])["INA3221 rails"]
    assert rails.ok is True
    assert rails.found == ", ".join(f"{label} {mw} mW" for label, mw in AGX_ORIN_RAIL_MW.items())


def test_thermal_zones_in_degrees_with_power_gated_sensors_offline(tmp_path: Path) -> None:
    zones = by_name(diagnose(fake_orin(tmp_path), cache_dir=tmp_path)[1])["thermal zones"]
    assert zones.ok is True
    assert zones.found.startswith("CPU-therm 42.6 °C, GPU-therm offline, CV0-therm offline")
    assert "tj-therm 42.6 °C" in zones.found and "Tdiode_tegra 33.2 °C" in zones.found


@pytest.mark.parametrize("damage", ["garbage", "directory", "missing"])
def test_unreadable_rails_fail_with_a_fix(tmp_path: Path, damage: str) -> None:
    host = fake_orin(tmp_path)
    current = next(host.root.glob("sys/bus/i2c/drivers/ina3221/1-0040/hwmon/*/curr2_input"))
    current.unlink()
    if damage == "garbage":
        current.write_text("not a number\n")
    elif damage == "directory":
        current.mkdir()
    _, checks = diagnose(host, cache_dir=tmp_path)
    rails = by_name(checks)["INA3221 rails"]
    assert rails.ok is False and rails.fix
    assert "VDD_GPU_SOC 2400 mW" in rails.found
    assert "unreadable: sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/in2" in rails.found
    assert not rails.required and ready(checks)  # telemetry is not needed to run


def test_a_jetson_without_rails_or_zones_fails_them(tmp_path: Path) -> None:
    host = fake_orin(tmp_path)
    for part in ("sys/bus/i2c", "sys/devices/virtual/thermal"):
        shutil.rmtree(host.root / part)
    found = by_name(diagnose(host, cache_dir=tmp_path)[1])
    assert found["INA3221 rails"].ok is False and found["INA3221 rails"].fix
    assert found["thermal zones"].ok is False and found["thermal zones"].fix


def test_a_set_needing_a_dla_fails_on_a_module_without_dlas(
        tmp_path: Path, dla_set: LoadedPipelineSet) -> None:
    # Orin Nano: no DLA (the model string is illustrative).
    host = fake_orin(tmp_path, model="NVIDIA Jetson Orin Nano Developer Kit", dlas=())
    _, checks = diagnose(host, cache_dir=tmp_path / "cache", pipelines=dla_set)
    dla = by_name(checks)["DLA cores"]
    assert dla.ok is False and dla.required
    assert dla.found == "0; 1 needed"
    assert dla.fix is not None and "target: {device: gpu}" in dla.fix
    assert [c.name for c in checks if c.ok is False] == ["DLA cores"]
    assert not ready(checks)


def test_dla1_needs_two_dla_cores(tmp_path: Path, write: Write, tiny_onnx: Path) -> None:
    del tiny_onnx
    loaded = pipeline_set(write, target="dla1")
    one = fake_orin(tmp_path / "one", dlas=AGX_ORIN_DLAS[:1])
    assert not ready(diagnose(one, cache_dir=tmp_path, pipelines=loaded)[1])
    two = fake_orin(tmp_path / "two")
    assert ready(diagnose(two, cache_dir=tmp_path, pipelines=loaded)[1])


def test_a_module_without_dlas_is_neutral_when_nothing_needs_them(tmp_path: Path) -> None:
    host = fake_orin(tmp_path, model="NVIDIA Jetson Orin Nano Developer Kit", dlas=())
    _, checks = diagnose(host, cache_dir=tmp_path)
    dla = by_name(checks)["DLA cores"]
    assert dla.ok is None and dla.found == "0 (this module has none)"
    assert ready(checks)


def test_nvpmodel_without_a_sudoers_rule_fails_but_is_not_required(tmp_path: Path) -> None:
    host = fake_orin(tmp_path, runner=FakeRunner(sudo_allows=False))
    _, checks = diagnose(host, cache_dir=tmp_path)
    nvpmodel = by_name(checks)["nvpmodel"]
    assert nvpmodel.ok is False and not nvpmodel.required
    assert nvpmodel.fix is not None and "sudoers" in nvpmodel.fix
    assert "does not allow edge-runtime `nvpmodel -m N`" in nvpmodel.found
    assert ready(checks)


@pytest.mark.parametrize(("enabled", "active", "ok", "fix"), [
    ("enabled", "active", True, None),
    ("enabled", "failed", False, "journalctl -u edge-runtime.service"),
    ("disabled", "inactive", False, "sudo systemctl enable --now edge-runtime.service"),
    ("masked", "inactive", False, "sudo systemctl unmask edge-runtime.service"),
    ("not-found", "inactive", None, None),  # systemd >= 250 on a missing unit
    ("", "inactive", None, None),           # older systemd: nothing on stdout, exit 1
])
def test_the_systemd_unit_state(tmp_path: Path, enabled: str, active: str, ok: bool | None,
                                fix: str | None) -> None:
    host = fake_orin(tmp_path, runner=FakeRunner(enabled=enabled, active=active))
    service = by_name(diagnose(host, cache_dir=tmp_path)[1])["systemd unit"]
    assert service.ok is ok and not service.required
    assert service.fix == fix or (fix is not None and service.fix is not None
                                  and service.fix.startswith(fix))


def test_no_systemctl_is_neutral(tmp_path: Path) -> None:
    host = fake_orin(tmp_path)
    (tmp_path / "bin" / "systemctl").unlink()
    service = by_name(diagnose(host, cache_dir=tmp_path)[1])["systemd unit"]
    assert service.ok is None and service.found == "systemctl not found (no systemd)"


def test_old_python_is_not_ready(tmp_path: Path) -> None:
    _, checks = diagnose(fake_orin(tmp_path, python_version=(3, 9, 18)), cache_dir=tmp_path)
    python = by_name(checks)["Python"]
    assert python.ok is False and python.found == "3.9.18" and python.fix
    assert not ready(checks)


def test_broken_or_stub_only_installs_count_as_absent(tmp_path: Path,
                                                      dla_set: LoadedPipelineSet) -> None:
    modules: dict[str, types.ModuleType | BaseException] = {
        **jetson_modules(), "tensorrt": module("tensorrt"),  # tensorrt-stubs only
        "cuda.bindings.runtime": OSError("libcudart.so.12: cannot open shared object")}
    host = fake_orin(tmp_path, modules=modules)
    _, checks = diagnose(host, cache_dir=tmp_path, pipelines=dla_set)
    found = by_name(checks)
    assert found["TensorRT"].ok is False and "without __version__" in found["TensorRT"].found
    assert found["CUDA Python"].ok is False
    assert "libcudart.so.12" in found["CUDA Python"].found
    assert not ready(checks)


def test_tensorrt_older_than_8_4_fails(tmp_path: Path, dla_set: LoadedPipelineSet) -> None:
    modules = {**jetson_modules(), "tensorrt": module("tensorrt", __version__="8.2.1.8")}
    _, checks = diagnose(fake_orin(tmp_path, modules=modules), cache_dir=tmp_path,
                         pipelines=dla_set)
    assert by_name(checks)["TensorRT"].ok is False and not ready(checks)


def test_pycuda_serves_when_cuda_python_is_absent(tmp_path: Path) -> None:
    modules = {**jetson_modules(), "pycuda": module("pycuda", VERSION_TEXT="2024.1"),
               "pycuda.driver": module("pycuda.driver")}
    del modules["cuda.bindings.runtime"]
    cuda = by_name(diagnose(fake_orin(tmp_path, modules=modules), cache_dir=tmp_path)[1])
    assert cuda["CUDA Python"].ok is True and cuda["CUDA Python"].found == "pycuda 2024.1"


# --- what a set needs ----------------------------------------------------------------------------


def test_auto_needs_tensorrt_only_where_it_is_present(write: Write, tiny_onnx: Path) -> None:
    del tiny_onnx
    loaded = pipeline_set(write, backend="auto")
    assert needs_of(loaded, tensorrt_present=False).tensorrt == ()
    on_jetson = needs_of(loaded, tensorrt_present=True)
    assert on_jetson.tensorrt == ("rear",) and on_jetson.dla == (("rear", 0),)
    assert needs_of(loaded, backend=BackendName.MOCK, tensorrt_present=True).dla == ()
    assert needs_of(None) is SIMULATED


def test_a_ros2_source_needs_rclpy(tmp_path: Path, write: Write, tiny_onnx: Path) -> None:
    del tiny_onnx
    loaded = pipeline_set(write, backend="mock", source="{type: ros2}")
    modules = jetson_modules()
    del modules["rclpy"]
    _, checks = diagnose(fake_orin(tmp_path, modules=modules), cache_dir=tmp_path,
                         pipelines=loaded)
    rclpy = by_name(checks)["rclpy"]
    assert rclpy.ok is False and rclpy.required and rclpy.needed_for == "rear"
    assert rclpy.fix is not None and "ROS 2" in rclpy.fix
    assert not ready(checks)
    _, alone = diagnose(fake_orin(tmp_path / "other", modules=modules), cache_dir=tmp_path)
    assert by_name(alone)["rclpy"].ok is None and ready(alone)


def test_a_cache_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    check = check_cache(blocker / "engines")
    assert check.ok is False and check.required and check.fix
    assert check_cache(tmp_path / "new" / "engines").ok is True  # created on first build
    assert not (tmp_path / "new").exists()  # the doctor changes nothing
    assert check_cache(tmp_path).ok is True and list(tmp_path.iterdir()) == [blocker]


# --- this machine --------------------------------------------------------------------------------


@pytest.mark.skipif(not NO_TENSORRT_HERE, reason="TensorRT is installed on this host")
def test_this_machine_runs_the_simulated_backend_but_has_no_tensorrt(tmp_path: Path) -> None:
    needs, checks = diagnose(Host(), cache_dir=tmp_path / "cache")
    assert needs is SIMULATED and ready(checks)
    tensorrt = by_name(checks)["TensorRT"]
    assert tensorrt.ok is False and tensorrt.fix and not tensorrt.required
    demo = load_pipeline_set(REPO / "pipelines" / "demo.yaml")  # a DLA lane, simulated here
    assert ready(diagnose(Host(), cache_dir=tmp_path / "cache", pipelines=demo)[1])


def test_checks_are_json(tmp_path: Path) -> None:
    _, checks = diagnose(Host(), cache_dir=tmp_path)
    rows = json.loads(json.dumps([c.to_json() for c in checks]))
    assert all(set(row) == {"name", "ok", "found", "fix", "required"} for row in rows)
    assert all(row["ok"] in (True, False, None) for row in rows)
