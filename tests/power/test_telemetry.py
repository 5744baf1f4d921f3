"""The sysfs telemetry readers, on the replicated trees of tests/fixtures/jetson/sysfs (each built
from one real tegrastats line, see that folder's README) and on damaged copies of them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from edge_runtime.power.tegrastats import parse_tegrastats
from edge_runtime.power.telemetry import (
    Rail,
    module_power,
    read_dla,
    read_emc,
    read_gpu,
    read_rails,
    read_telemetry,
    read_temperatures,
    read_thermal_zones,
    thermal_zones,
)
from tests.fake_jetson import AGX_ORIN_RAIL_MW, write_tree

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jetson"
TREES = FIXTURES / "sysfs"
SAMPLES = {s["id"]: s for s in yaml.safe_load(
    (FIXTURES / "tegrastats" / "tegrastats_samples.yaml").read_text(encoding="utf-8"))["samples"]}

#: What each tree must read as: rail mW (transcribed from its tegrastats line; the composed V and
#: I multiply to within 0.01 %), online zones (°C), offline zones, GPU load and Hz, EMC Hz, DLA Hz.
EXPECTED: dict[str, dict[str, object]] = {
    "agx-orin-jp6": {
        "sample": "agx_orin_64gb_jp7_loaded",
        "rails_mw": {"VDD_GPU_SOC": 5139, "VDD_CPU_CV": 3268, "VIN_SYS_5V0": 5500,
                     "VDDQ_VDD2_1V8AO": 301},
        "temps": {"cpu-thermal": 52.968, "gpu-thermal": 47.625, "soc0-thermal": 49.531,
                  "soc1-thermal": 48.875, "soc2-thermal": 48.406, "tj-thermal": 52.968},
        "offline": ["cv0-thermal", "cv1-thermal", "cv2-thermal"],
        "gpu": (0.12, 1_300_500_000.0), "emc_hz": 3_199_000_000.0,
        "dla_hz": {"dla0": 1.6e9, "dla1": 1.6e9},
    },
    "agx-orin-jp5": {
        "sample": "agx_orin_64gb_jp5_idle_maxn",
        "rails_mw": {"VDD_GPU_SOC": 2399, "VDD_CPU_CV": 400, "VIN_SYS_5V0": 4032,
                     "VDDQ_VDD2_1V8AO": 301},
        "temps": {"CPU-therm": 42.593, "SOC0-therm": 39.375, "SOC1-therm": 40.468,
                  "SOC2-therm": 39.343, "tj-therm": 42.593, "Tboard_tegra": 32.0,
                  "Tdiode_tegra": 33.25},
        "offline": ["GPU-therm", "CV0-therm", "CV1-therm", "CV2-therm"],
        "gpu": (0.0, 306_000_000.0), "emc_hz": 2_133_000_000.0,
        "dla_hz": {"dla0": 1.6e9, "dla1": 1.6e9},
    },
    "orin-nano-8gb-jp6": {
        "sample": "orin_nano_8gb_jp6_idle_4cores",
        "rails_mw": {"VDD_IN": 3913, "VDD_CPU_GPU_CV": 598, "VDD_SOC": 1238},
        "temps": {"cpu-thermal": 62.843, "gpu-thermal": 61.687, "soc0-thermal": 60.625,
                  "soc1-thermal": 61.687, "soc2-thermal": 61.968, "tj-thermal": 62.843},
        "offline": [],
        "gpu": (0.01, 306_000_000.0), "emc_hz": None, "dla_hz": {},
    },
    "agx-xavier-jp4": {
        "sample": "agx_xavier_jp44_yolov3_maxn",
        "rails_mw": {"GPU": 18401, "CPU": 2301, "SOC": 4602, "CV": 0, "VDDRQ": 2914,
                     "SYS5V": 4632},
        "temps": {"AO-therm": 48.0, "CPU-therm": 49.0, "GPU-therm": 54.5, "AUX-therm": 46.0,
                  "Tboard_tegra": 47.0, "Tdiode_tegra": 53.25, "thermal-fan-est": 49.45},
        "offline": [],
        "gpu": (0.95, 1_377_000_000.0), "emc_hz": 2_133_000_000.0, "dla_hz": {},
    },
}


def expected(tree: str, key: str) -> object:
    return EXPECTED[tree][key]


def copy_tree(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(TREES / name, tmp_path / name))


def test_every_committed_tree_is_described() -> None:
    assert sorted(p.name for p in TREES.iterdir()) == sorted(EXPECTED)
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}/`" in readme for name in EXPECTED)


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_every_rail_of_the_tree_in_sensor_order(tree: str) -> None:
    rails, problems = read_rails(TREES / tree)
    want = expected(tree, "rails_mw")
    assert isinstance(want, dict)
    assert list(rails) == list(want)  # NC channels and the summation channel left out
    for name, milliwatts in want.items():
        rail = rails[name]
        assert rail.watts == pytest.approx(milliwatts / 1000, rel=1e-4, abs=1e-6)
        assert rail.volts is not None and rail.amps is not None
        # hwmon gives V and I (power is their product); ina3221x gives its own power figure
        assert rail.watts == pytest.approx(rail.volts * rail.amps, rel=1e-4, abs=1e-6)
    assert problems == []


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_every_zone_of_the_tree(tree: str) -> None:
    temperatures, problems = read_temperatures(TREES / tree)
    assert temperatures == expected(tree, "temps")
    offline = expected(tree, "offline")
    assert isinstance(offline, list)
    assert [p for p in problems if "offline" in p] == [
        f"temperatures_c[{name}]: offline (power-gated, -256 °C)" for name in offline]


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_gpu_emc_and_dla_of_the_tree(tree: str) -> None:
    load, hz, problems = read_gpu(TREES / tree)
    assert (load, hz) == expected(tree, "gpu")
    assert problems == []
    assert read_emc(TREES / tree)[0] == expected(tree, "emc_hz")
    assert read_dla(TREES / tree)[0] == expected(tree, "dla_hz")


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_the_tree_agrees_with_the_tegrastats_line_it_was_built_from(tree: str) -> None:
    sysfs = read_telemetry(TREES / tree, psutil_stats=False)
    line = parse_tegrastats(str(SAMPLES[str(expected(tree, "sample"))]["line"]))
    for name, rail in line.rails.items():
        assert sysfs.rails[name].watts == pytest.approx(rail.watts, rel=1e-4, abs=1e-6)
    assert sysfs.gpu_load == line.gpu_load
    if line.emc_hz is not None and sysfs.emc_hz is not None:
        assert sysfs.emc_hz == line.emc_hz
    assert sysfs.module_w is not None and line.module_w is not None
    if list(line.rails) == list(sysfs.rails):  # the JP7 line does not print VDDQ_VDD2_1V8AO
        assert sysfs.module_w == pytest.approx(line.module_w, rel=1e-4)
    else:
        assert list(line.rails) == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]


def test_module_power_is_vdd_in_where_the_module_has_it() -> None:
    telemetry = read_telemetry(TREES / "orin-nano-8gb-jp6", psutil_stats=False)
    assert telemetry.module_w == pytest.approx(3.913, rel=1e-4)  # not VDD_IN + its sub-rails


def test_module_power_is_the_sum_of_the_rails_on_agx_orin() -> None:
    telemetry = read_telemetry(TREES / "agx-orin-jp6", psutil_stats=False)
    assert telemetry.module_w == pytest.approx((5139 + 3268 + 5500 + 301) / 1000, rel=1e-4)


def test_a_full_reading_of_a_tree() -> None:
    telemetry = read_telemetry(TREES / "agx-orin-jp6", psutil_stats=False)
    assert telemetry.source == "sysfs"
    assert telemetry.hottest_c == 52.968
    assert telemetry.throttled is None
    assert telemetry.cpu_percent is None and telemetry.memory_total_bytes is None
    assert telemetry.emc_load is None
    fields = {line.split(":", 1)[0] for line in telemetry.unknown}
    assert fields == {"temperatures_c[cv0-thermal]", "temperatures_c[cv1-thermal]",
                      "temperatures_c[cv2-thermal]", "emc_load", "cpu_percent",
                      "memory_used_bytes", "memory_total_bytes", "throttled"}


def test_without_root_the_emc_clock_is_unknown_and_says_why() -> None:
    telemetry = read_telemetry(TREES / "orin-nano-8gb-jp6", psutil_stats=False)
    assert telemetry.emc_hz is None
    assert ("emc_hz: sys/kernel/debug/bpmp/debug/clk/emc/rate: missing (BPMP debugfs, readable "
            "by root)") in telemetry.unknown


def test_an_empty_root_gives_every_field_unknown(tmp_path: Path) -> None:
    telemetry = read_telemetry(tmp_path, psutil_stats=False)
    assert telemetry.rails == {} and telemetry.temperatures_c == {} and telemetry.dla_hz == {}
    assert telemetry.module_w is None and telemetry.gpu_load is None
    assert telemetry.gpu_hz is None and telemetry.emc_hz is None
    fields = {line.split(":", 1)[0] for line in telemetry.unknown}
    assert {"rails", "module_w", "temperatures_c", "gpu_load", "gpu_hz", "emc_hz",
            "throttled"} <= fields


def channel_file(root: Path, device: str, name: str) -> Path:
    return next((root / "sys/bus/i2c/devices" / device / "hwmon").glob(f"hwmon*/{name}"))


@pytest.mark.parametrize(("damage", "why"), [
    ("garbage", "not a number: 'not a number'"),
    ("empty", "not a number: ''"),
    ("binary", "not text"),
    ("huge", "not a number"),
    ("out of range", "out of range: 5000000"),
    ("float", "not a number: '1034.5'"),
    ("directory", "a directory, not a value"),
    ("missing", "missing"),
])
def test_an_unreadable_current_leaves_that_rail_and_the_sum_unknown(
        tmp_path: Path, damage: str, why: str) -> None:
    root = copy_tree(tmp_path, "agx-orin-jp6")
    current = channel_file(root, "1-0040", "curr1_input")
    current.unlink()
    contents = {"garbage": b"not a number\n", "empty": b"", "binary": b"\xff\xfe\x00\x81",
                "huge": b"9" * 400, "out of range": b"5000000\n", "float": b"1034.5\n"}
    if damage in contents:
        current.write_bytes(contents[damage])
    elif damage == "directory":
        current.mkdir()
    telemetry = read_telemetry(root, psutil_stats=False)
    rail = telemetry.rails["VDD_GPU_SOC"]
    assert rail.amps is None and rail.watts is None and rail.volts == 4.97
    assert telemetry.rails["VDD_CPU_CV"].watts == pytest.approx(3.268, rel=1e-4)
    assert telemetry.module_w is None
    where = "sys/bus/i2c/devices/1-0040/hwmon/hwmon1/curr1_input"
    assert any(line.startswith(f"rails[VDD_GPU_SOC]: {where}: {why}")
               for line in telemetry.unknown)
    assert "module_w: the sum of the rails lacks VDD_GPU_SOC" in telemetry.unknown


def test_an_unreadable_sub_rail_leaves_vdd_in_as_the_module_power(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "orin-nano-8gb-jp6")
    channel_file(root, "1-0040", "in3_input").write_text("garbage\n")
    telemetry = read_telemetry(root, psutil_stats=False)
    assert telemetry.rails["VDD_SOC"].watts is None
    assert telemetry.module_w == pytest.approx(3.913, rel=1e-4)


def test_an_unreadable_vdd_in_is_not_replaced_by_a_sum(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "orin-nano-8gb-jp6")
    channel_file(root, "1-0040", "in1_input").write_text("-5\n")
    telemetry = read_telemetry(root, psutil_stats=False)
    assert telemetry.module_w is None
    assert "module_w: VDD_IN unreadable" in telemetry.unknown


def test_a_permission_denied_zone_is_named(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_tree(tmp_path, "agx-orin-jp6")
    denied = root / "sys/devices/virtual/thermal/thermal_zone8/temp"
    read_text = Path.read_text

    def guarded(path: Path, *args: Any, **kwargs: Any) -> str:
        if path == denied:  # what a non-root user meets; chmod would not stop root
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", guarded)
    telemetry = read_telemetry(root, psutil_stats=False)
    assert "tj-thermal" not in telemetry.temperatures_c
    assert "temperatures_c[thermal_zone8]: Permission denied" in telemetry.unknown


def test_a_malformed_zone_is_named_and_the_others_kept(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "agx-orin-jp5")
    (root / "sys/devices/virtual/thermal/thermal_zone0/temp").write_text("hot\n")
    telemetry = read_telemetry(root, psutil_stats=False)
    assert "CPU-therm" not in telemetry.temperatures_c
    assert telemetry.temperatures_c["tj-therm"] == 42.593
    assert any(line.startswith("temperatures_c[thermal_zone0]: ") for line in telemetry.unknown)


def test_the_pmic_placeholder_is_left_out_of_the_temperatures_only() -> None:
    telemetry = read_telemetry(TREES / "agx-xavier-jp4", psutil_stats=False)
    assert "PMIC-Die" not in telemetry.temperatures_c
    assert telemetry.hottest_c == 54.5  # not the placeholder's 100 °C
    assert ("temperatures_c[PMIC-Die]: a fixed placeholder, not a measurement"
            in telemetry.unknown)
    # the older readers keep every zone as before
    assert read_thermal_zones(TREES / "agx-xavier-jp4")["PMIC-Die"] == 100.0
    assert ("GPU-therm", None) in thermal_zones(TREES / "agx-orin-jp5")[0]


@pytest.mark.parametrize(("content", "why"), [
    ("1001\n", "out of range: 1001"), ("-1\n", "out of range: -1"), ("12.5\n", "not a number")])
def test_a_malformed_gpu_load_is_unknown(tmp_path: Path, content: str, why: str) -> None:
    root = copy_tree(tmp_path, "agx-orin-jp6")
    (root / "sys/devices/platform/gpu.0/load").write_text(content)
    load, hz, problems = read_gpu(root)
    assert load is None and hz == 1_300_500_000.0
    assert problems[0].startswith(f"gpu_load: sys/devices/platform/gpu.0/load: {why}")


def test_the_gpu_is_found_in_the_devfreq_class_by_its_device_tree_name(tmp_path: Path) -> None:
    for entry, name, load in (("13d00000.host1x", "host1x", "7"), ("17000000.gpu", "gpu", "333")):
        device = tmp_path / "sys/class/devfreq" / entry / "device"
        (device / "of_node").mkdir(parents=True)
        (device / "of_node" / "name").write_bytes(name.encode() + b"\0")  # as device trees do
        (device / "load").write_text(f"{load}\n")
        (device.parent / "cur_freq").write_text("918000000\n")
    assert read_gpu(tmp_path) == (0.333, 918_000_000.0, [])


def test_an_iio_rail_without_power_is_computed_from_volts_and_amps(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "agx-xavier-jp4")
    (root / "sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/in_power1_input").unlink()
    rails, problems = read_rails(root)
    assert rails["CPU"].watts == pytest.approx(5.035 * 0.457)
    assert problems == ["rails[CPU]: sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/"
                        "in_power1_input: missing"]


def test_a_sensor_listed_by_bus_and_driver_is_read_once(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "orin-nano-8gb-jp6")
    shutil.copytree(root / "sys/bus/i2c/devices/1-0040",
                    root / "sys/bus/i2c/drivers/ina3221/1-0040")
    rails, problems = read_rails(root)
    assert list(rails) == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"] and problems == []


def test_a_label_on_two_sensors_keeps_the_first(tmp_path: Path) -> None:
    root = copy_tree(tmp_path, "agx-orin-jp6")
    channel_file(root, "1-0041", "in2_label").write_text("VDD_CPU_CV\n")
    rails, problems = read_rails(root)
    assert rails["VDD_CPU_CV"].watts == pytest.approx(3.268, rel=1e-4)
    assert problems == ["rails[VDD_CPU_CV]: on two channels; the first is kept"]


def test_the_doctors_fake_orin_reads_the_same_rails(tmp_path: Path) -> None:
    rails, problems = read_rails(write_tree(tmp_path))  # sys/bus/i2c/drivers/ina3221/...
    assert {name: round((rail.watts or 0) * 1000) for name, rail in rails.items()} == \
        AGX_ORIN_RAIL_MW
    assert problems == []


def test_module_power_of_no_rails_and_of_an_unread_input_rail() -> None:
    assert module_power({}) == (None, "module_w: no rails")
    assert module_power({"POM_5V_IN": Rail("POM_5V_IN", watts=4.2),
                         "POM_5V_GPU": Rail("POM_5V_GPU", watts=1.0)}) == (4.2, None)


def test_host_cpu_and_memory_from_psutil() -> None:
    telemetry = read_telemetry(TREES / "agx-orin-jp6")
    assert telemetry.cpu_percent is not None and 0.0 <= telemetry.cpu_percent <= 100.0
    assert telemetry.memory_total_bytes is not None and telemetry.memory_total_bytes > 0
    assert telemetry.memory_used_bytes is not None
    assert 0 < telemetry.memory_used_bytes <= telemetry.memory_total_bytes
    assert not any(line.startswith(("cpu_percent", "memory_")) for line in telemetry.unknown)


def test_psutil_failing_is_an_unknown_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "virtual_memory", fail)
    monkeypatch.setattr(psutil, "cpu_percent", fail)
    telemetry = read_telemetry(TREES / "agx-orin-jp6")
    assert telemetry.cpu_percent is None and telemetry.memory_used_bytes is None
    assert {line.split(":", 1)[0] for line in telemetry.unknown} >= {
        "cpu_percent", "memory_used_bytes", "memory_total_bytes"}
