"""A fake Jetson AGX Orin for `edge-runtime doctor`: a /proc + /sys tree in a directory, fake
commands on a PATH of its own, a command runner that answers like sudo and systemctl, and an
importer that has (or lacks) the modules a test asks for.

Values are copied from the Jetson fixtures in the shared fixture set (named per block below);
the tests never read those files.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.doctor import Host

AGX_ORIN_MODEL = "NVIDIA Jetson AGX Orin Developer Kit"

# DLA platform devices of Tegra234, from telemetry/gpu_sysfs.yaml (clk_cap paths
# .../15880000.nvdla0/... and .../158c0000.nvdla1/...).
AGX_ORIN_DLAS = ("15880000.nvdla0", "158c0000.nvdla1")

# INA3221 sensors of the AGX Orin module, from telemetry/ina3221_rails.yaml (modules.agx_orin:
# addresses 0x40 / 0x41 on I2C bus 1, labels per channel; the 0x41 channels 1 and 3 are
# disabled and read NC). Bus voltages are illustrative (the fixture gives mW only); currents are
# chosen so the power lands near its example_readings.agx_orin_64gb_idle_jp5 (mW):
# VDD_GPU_SOC 2399, VDD_CPU_CV 400, VIN_SYS_5V0 4032, VDDQ_VDD2_1V8AO 301.
#: {i2c device: {channel: (label, mV, mA)}}
AGX_ORIN_RAILS: dict[str, dict[int, tuple[str, int, int]]] = {
    "1-0040": {1: ("VDD_GPU_SOC", 5000, 480), 2: ("VDD_CPU_CV", 5000, 80),
               3: ("VIN_SYS_5V0", 5000, 806), 7: ("sum of shunt voltages", 0, 0)},
    "1-0041": {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 5000, 60), 3: ("NC", 0, 0)},
}
#: Milliwatts the doctor should report for the rails above.
AGX_ORIN_RAIL_MW = {"VDD_GPU_SOC": 2400, "VDD_CPU_CV": 400, "VIN_SYS_5V0": 4030,
                    "VDDQ_VDD2_1V8AO": 300}

# Thermal zones of an idle AGX Orin 64GB on JetPack 5, from telemetry/thermal_zones.yaml
# (bpmp_sensor_index jp5_type names, board_sensors, observed_idle_c.agx_orin_64gb_jp5; GPU and
# CV0 read -256 °C, power-gated; CV1/CV2 assumed the same).
AGX_ORIN_ZONES: tuple[tuple[str, int], ...] = (
    ("CPU-therm", 42593), ("GPU-therm", -256000), ("CV0-therm", -256000),
    ("CV1-therm", -256000), ("CV2-therm", -256000), ("SOC0-therm", 39375),
    ("SOC1-therm", 40468), ("SOC2-therm", 39343), ("tj-therm", 42593),
    ("Tboard_tegra", 32000), ("Tdiode_tegra", 33250),
)


def write_tree(root: Path, *, model: str | None = AGX_ORIN_MODEL,
               dlas: Sequence[str] = AGX_ORIN_DLAS,
               rails: Mapping[str, Mapping[int, tuple[str, int, int]]] | None = None,
               zones: Sequence[tuple[str, int]] = AGX_ORIN_ZONES) -> Path:
    """Lay out /proc/device-tree/model, the DLA devices, the INA3221 hwmon files and the
    thermal zones under ``root``."""
    if model is not None:
        (root / "proc/device-tree").mkdir(parents=True)
        (root / "proc/device-tree/model").write_bytes(model.encode() + b"\0")
    platform = root / "sys/bus/platform/devices"
    platform.mkdir(parents=True)
    for name in ("3610000.usb", "13e40000.host1x", *dlas):
        (platform / name).mkdir()
    for index, (device, channels) in enumerate((AGX_ORIN_RAILS if rails is None
                                                else rails).items()):
        hwmon = root / f"sys/bus/i2c/drivers/ina3221/{device}/hwmon/hwmon{index + 1}"
        hwmon.mkdir(parents=True)
        (hwmon / "name").write_text("ina3221\n")
        for channel, (label, millivolts, milliamps) in channels.items():
            (hwmon / f"in{channel}_label").write_text(f"{label}\n")
            (hwmon / f"in{channel}_input").write_text(f"{millivolts}\n")
            (hwmon / f"curr{channel}_input").write_text(f"{milliamps}\n")
    for index, (name, millidegrees) in enumerate(zones):
        zone = root / f"sys/devices/virtual/thermal/thermal_zone{index}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(f"{name}\n")
        (zone / "temp").write_text(f"{millidegrees}\n")
    return root


def fake_bin(directory: Path, *names: str) -> str:
    """Executables named ``names`` in ``directory``; returns it as a PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        program = directory / name
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(0o755)
    return str(directory)


def module(name: str, **attributes: object) -> types.ModuleType:
    made = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(made, key, value)
    return made


def jetson_modules() -> dict[str, types.ModuleType]:
    """What a JetPack 6 venv imports (TensorRT 10.3 as in docs/jetson-build.md's table)."""
    return {
        "onnxruntime": module("onnxruntime", __version__="1.19.0", get_available_providers=lambda:
                              ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                               "CPUExecutionProvider"]),
        "tensorrt": module("tensorrt", __version__="10.3.0.30"),
        "cuda.bindings": module("cuda.bindings", __version__="12.6.2"),
        "cuda.bindings.runtime": module("cuda.bindings.runtime"),
        "rclpy": module("rclpy"),
    }


def importer(modules: Mapping[str, types.ModuleType | BaseException]
             ) -> Callable[[str], types.ModuleType]:
    """Import from ``modules``: a module is returned, an exception raised, anything else is
    ModuleNotFoundError as from the real import."""
    def _import(name: str) -> types.ModuleType:
        found = modules.get(name)
        if isinstance(found, BaseException):
            raise found
        if found is None:
            raise ModuleNotFoundError(f"No module named '{name}'")
        return found

    return _import


@dataclass
class FakeRunner:
    """Answers ``sudo -n -l ...`` and ``systemctl is-enabled|is-active`` like the real ones;
    records every command."""

    sudo_allows: bool = True
    enabled: str = "enabled"
    active: str = "active"
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        program = Path(argv[0]).name
        if program == "sudo":
            return (0, f"{argv[3]} -m 0\n") if self.sudo_allows else (1, "")
        if program == "systemctl" and argv[1] == "is-enabled":
            return (0 if self.enabled.startswith("enabled") else 1,
                    f"{self.enabled}\n" if self.enabled else "")
        if program == "systemctl" and argv[1] == "is-active":
            return 0 if self.active == "active" else 3, f"{self.active}\n"
        return 127, ""


def fake_orin(tmp_path: Path, *, runner: FakeRunner | None = None,
              modules: Mapping[str, types.ModuleType | BaseException] | None = None,
              model: str | None = AGX_ORIN_MODEL, dlas: Sequence[str] = AGX_ORIN_DLAS,
              python_version: tuple[int, int, int] = (3, 10, 12)) -> Host:
    """A Host for a JetPack 6 AGX Orin (Python 3.10) with nvpmodel, sudo and systemctl on its
    PATH; ``dlas=()`` makes a module without DLAs."""
    root = write_tree(tmp_path / "root", model=model, dlas=dlas)
    return Host(root=root, search_path=fake_bin(tmp_path / "bin", "nvpmodel", "sudo",
                                                "systemctl"),
                run=runner or FakeRunner(),
                import_module=importer(jetson_modules() if modules is None else modules),
                python_version=python_version, user="edge-runtime")
