"""Reading a module's temperatures from sysfs (real on a Jetson, and on any Linux host that
has thermal zones; the simulated Jetson has none, and the metrics then show none).

Layout (Linux thermal class, the same on L4T): ``/sys/devices/virtual/thermal/thermal_zone<N>/``
with ``type`` (the zone's name: ``cpu-thermal``, ``tj-thermal``, ... on JetPack 6) and ``temp``
in millidegrees Celsius. A sensor in a power-gated domain (the GPU or CV zones of an idle AGX
Orin on JetPack 5) reads -256 °C: that is "offline", not a temperature, and is left out.

The rest of the module's self-measurement (:func:`read_telemetry`) comes from the same tree:
INA3221 power rails (hwmon on JetPack 5/6 Orin and upstream kernels, the downstream
``ina3221x`` IIO driver on JetPack 4), GPU load and clock from devfreq, the EMC and DLA clocks
from the BPMP's debugfs, and the host's CPU and memory from psutil. Every reader takes the tree's
``root`` so tests point it at a replicated tree (``tests/fixtures/jetson/sysfs/``); the paths are
those of the shared fixtures ``telemetry/ina3221_rails.yaml``, ``gpu_sysfs.yaml`` and
``thermal_zones.yaml``. A missing, unreadable or malformed node never raises: its field is None
(or absent) and ``Telemetry.unknown`` says ``field: why``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

THERMAL_DIR = "sys/devices/virtual/thermal"
#: What L4T reports for a sensor whose domain is power-gated.
OFFLINE_C = -256.0
#: Zones whose reading is a fixed placeholder, not a measurement (jetson_stats ignores the PMIC
#: zone for that reason, telemetry/thermal_zones.yaml; an AGX Xavier prints ``PMIC@100C``):
#: left out of the temperatures, or the hottest zone would always be them.
PLACEHOLDER_ZONES = ("PMIC",)

#: INA3221 hwmon directories (JetPack 5/6 and upstream). The same device is reachable from the
#: bus and from the driver (both symlinks on a device); a tree may hold either.
INA3221_HWMON_GLOBS = ("sys/bus/i2c/devices/*/hwmon/hwmon*",
                       "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")
#: The downstream IIO driver of older L4T (JetPack 4: Xavier, Nano, TX2).
INA3221X_IIO_GLOB = "sys/bus/i2c/drivers/ina3221x/*/iio:device*"
#: L4T's label of an unused channel (tegrastats prints ``NC 0mW/0mW``).
NOT_CONNECTED = "NC"
#: Label prefix of the hwmon driver's summation channel (in7/curr4): not a rail of its own.
SUM_CHANNEL = "sum of shunt"
#: Rails that measure the whole module's input, by preference (Orin NX/Nano: VDD_IN; Nano and
#: TX2 era: POM_5V_IN). AGX Orin has none; its draw is then the sum of its rails.
MODULE_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")

#: devfreq entries; the GPU's is the one whose ``device/of_node/name`` is one of these (or
#: contains ``gpu``), as jetson_stats finds it (telemetry/gpu_sysfs.yaml).
DEVFREQ_CLASS = "sys/class/devfreq"
GPU_OF_NAMES = ("gv11b", "gp10b", "ga10b", "gb10b")
#: (devfreq directory, load file) of the Orin GPU where the class entry is not found:
#: JetPack 6 first, then JetPack 5 (telemetry/gpu_sysfs.yaml).
GPU_NODES = (
    ("sys/devices/platform/17000000.gpu/devfreq_dev", "sys/devices/platform/gpu.0/load"),
    ("sys/devices/17000000.ga10b/devfreq/17000000.ga10b", "sys/devices/gpu.0/load"),
)
#: The nvgpu driver's busy average is per mille (0..1000).
GPU_LOAD_FULL = 1000
#: The BPMP firmware's clock tree in debugfs (root only): ``<clock>/rate`` in Hz.
BPMP_CLK_DIR = "sys/kernel/debug/bpmp/debug/clk"
#: The DLA devices (JetPack 6 path, then JetPack 5), whose clk_cap nodes nvpmodel writes.
DLA_DEVICES = {
    "dla0": ("sys/devices/platform/bus@0/13e00000.host1x/15880000.nvdla0",
             "sys/devices/platform/13e40000.host1x/15880000.nvdla0"),
    "dla1": ("sys/devices/platform/bus@0/13e00000.host1x/158c0000.nvdla1",
             "sys/devices/platform/13e40000.host1x/158c0000.nvdla1"),
}
#: Plausible bounds of sysfs readings: beyond them a value is malformed, not a measurement.
MAX_MILLI = 1_000_000          # mV, mA, mW: 1 kV, 1 kA, 1 kW are far past any Jetson rail
MAX_HZ = 100_000_000_000       # 100 GHz


def thermal_zones(root: Path = Path("/")) -> tuple[list[tuple[str, float | None]], list[str]]:
    """Every zone under ``root`` as (type, °C, or None while power-gated), in zone order, and
    the zones that could not be read (``thermal_zone3: Permission denied``)."""
    zones: list[tuple[str, float | None]] = []
    errors: list[str] = []
    for zone in sorted((root / THERMAL_DIR).glob("thermal_zone*"),
                       key=lambda p: (len(p.name), p.name)):
        try:
            name = (zone / "type").read_text(encoding="utf-8").strip()
            celsius = int((zone / "temp").read_text(encoding="utf-8").strip()) / 1000
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            errors.append(f"{zone.name}: {reason}")
            continue
        zones.append((name or zone.name, None if celsius <= OFFLINE_C else celsius))
    return zones, errors


def read_thermal_zones(root: Path = Path("/")) -> dict[str, float]:
    """``{zone type: °C}`` for every readable, online zone under ``root`` (the metrics)."""
    return {name: celsius for name, celsius in thermal_zones(root)[0] if celsius is not None}


@dataclass(frozen=True)
class Rail:
    """One power rail of the module's monitors (INA3221 channel, or a tegrastats field)."""

    name: str
    volts: float | None = None
    amps: float | None = None
    watts: float | None = None


@dataclass(frozen=True)
class Telemetry:
    """One sample of what the module measures of itself: the governor's and status()' input.

    Fields a reader could not get are None (or absent from the mappings), and ``unknown`` says
    which and why: a malformed or missing source is a warning, never an exception.
    """

    #: Where it came from: ``sysfs``, ``tegrastats`` or ``simulated``.
    source: str
    #: Rails by label (``VDD_GPU_SOC``, ``VDD_IN``, ...).
    rails: Mapping[str, Rail] = field(default_factory=dict)
    #: The module's draw in W: the input rail where the module has one (``VDD_IN`` on Orin NX
    #: and Nano), else the sum of its rails (AGX Orin has no module-input channel).
    module_w: float | None = None
    #: Thermal zones by type (``cpu-thermal``, ``tj-thermal``, ...), in °C, online ones only.
    temperatures_c: Mapping[str, float] = field(default_factory=dict)
    #: GPU load (0..1) and current clock (Hz), from devfreq.
    gpu_load: float | None = None
    gpu_hz: float | None = None
    #: External memory controller clock (Hz) and load (0..1) where known.
    emc_hz: float | None = None
    emc_load: float | None = None
    #: DLA core clocks (Hz) by core (``dla0``, ``dla1``).
    dla_hz: Mapping[str, float] = field(default_factory=dict)
    #: Host CPU use (0..100 %) and memory (bytes), from psutil.
    cpu_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    #: True while a thermal or power throttle is in force (None: not known).
    throttled: bool | None = None
    #: ``field: why`` for every field that could not be read.
    unknown: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON, ROS diagnostics, the status)."""
        return telemetry_dict(self)

    @property
    def hottest_c(self) -> float | None:
        """The hottest online zone (what a thermal limit is tested against)."""
        return max(self.temperatures_c.values(), default=None)


# --- reading sysfs -------------------------------------------------------------------------


class _UnreadableError(Exception):
    """A node that could not be read or parsed; its text is the reason (``missing``, ...)."""


def _text(path: Path) -> str:
    """A node's content without the newline (and the NUL device-tree strings end with)."""
    try:
        return path.read_text(encoding="utf-8").strip().strip("\0").strip()
    except FileNotFoundError as exc:
        raise _UnreadableError("missing") from exc
    except IsADirectoryError as exc:
        raise _UnreadableError("a directory, not a value") from exc
    except OSError as exc:
        raise _UnreadableError(exc.strerror or type(exc).__name__) from exc
    except UnicodeDecodeError as exc:
        raise _UnreadableError("not text") from exc


def _integer(path: Path, low: int, high: int) -> int:
    """The integer a node holds, within [low, high] (outside: malformed, not a reading)."""
    text = _text(path)
    if not re.fullmatch(r"-?[0-9]{1,20}", text):
        raise _UnreadableError(f"not a number: {text[:24]!r}")
    value = int(text)
    if not low <= value <= high:
        raise _UnreadableError(f"out of range: {value}")
    return value


def _where(root: Path, path: Path) -> str:
    """``path`` as the tree names it (relative to ``root``), for the ``unknown`` lines."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _milli(root: Path, path: Path, low: int, problems: list[str], rail: str) -> float | None:
    """A mV/mA/mW node in base units (V, A, W), or None with a ``rails[...]`` line."""
    try:
        return _integer(path, low, MAX_MILLI) / 1000
    except _UnreadableError as exc:
        problems.append(f"rails[{rail}]: {_where(root, path)}: {exc}")
        return None


def _counts_as_rail(label: str) -> bool:
    """Unused channels (``NC``) and the summation channel are not rails."""
    return bool(label) and label != NOT_CONNECTED and not label.lower().startswith(SUM_CHANNEL)


def _is_ina3221(hwmon: Path) -> bool:
    try:
        return _text(hwmon / "name") == "ina3221"
    except _UnreadableError:
        return False


def _hwmon_dirs(root: Path) -> list[Path]:
    """Every ina3221 hwmon directory once, keyed by its I2C device (``1-0040``), since the bus
    and the driver both list it."""
    seen: set[str] = set()
    found: list[Path] = []
    for pattern in INA3221_HWMON_GLOBS:
        for hwmon in sorted(root.glob(pattern)):
            device = hwmon.parent.parent.name
            if device not in seen and _is_ina3221(hwmon):
                seen.add(device)
                found.append(hwmon)
    return found


def _numbered(directory: Path, pattern: str, prefix: str, suffix: str) -> list[tuple[str, Path]]:
    """Files ``<prefix><n><suffix>`` in channel order, with their number."""
    numbered: list[tuple[int, str, Path]] = []
    for path in directory.glob(pattern):
        number = path.name[len(prefix):len(path.name) - len(suffix)]
        if re.fullmatch(r"[0-9]{1,3}", number):
            numbered.append((int(number), number, path))
    return [(number, path) for _, number, path in sorted(numbered)]


def _rail_labels(root: Path, directory: Path, pattern: str, prefix: str, suffix: str,
                 problems: list[str]) -> Iterator[tuple[str, str]]:
    """(channel number, label) of every channel in ``directory`` that is a rail (both
    layouts); an unreadable label is a problem, not a rail."""
    for number, label_file in _numbered(directory, pattern, prefix, suffix):
        try:
            label = _text(label_file)
        except _UnreadableError as exc:
            problems.append(f"rails[{_where(root, label_file)}]: {exc}")
            continue
        if _counts_as_rail(label):
            yield number, label


def _hwmon_rails(root: Path, hwmon: Path, problems: list[str]) -> Iterator[Rail]:
    """The hwmon driver gives each channel's bus voltage (mV) and current (mA), not power."""
    for channel, label in _rail_labels(root, hwmon, "in*_label", "in", "_label", problems):
        volts = _milli(root, hwmon / f"in{channel}_input", 0, problems, label)
        amps = _milli(root, hwmon / f"curr{channel}_input", -MAX_MILLI, problems, label)
        watts = None if volts is None or amps is None else volts * amps
        yield Rail(label, volts, amps, watts)


def _iio_rails(root: Path, device: Path, problems: list[str]) -> Iterator[Rail]:
    """The downstream ina3221x driver names channels ``rail_name_<k>`` and computes power."""
    for k, label in _rail_labels(root, device, "rail_name_*", "rail_name_", "", problems):
        volts = _milli(root, device / f"in_voltage{k}_input", 0, problems, label)
        amps = _milli(root, device / f"in_current{k}_input", -MAX_MILLI, problems, label)
        watts = _milli(root, device / f"in_power{k}_input", -MAX_MILLI, problems, label)
        if watts is None and volts is not None and amps is not None:
            watts = volts * amps
        yield Rail(label, volts, amps, watts)


def read_rails(root: Path = Path("/")) -> tuple[dict[str, Rail], list[str]]:
    """The INA3221 rails under ``root`` by label, in sensor and channel order, from whichever
    driver layout is present (hwmon, then the older ``ina3221x`` IIO one), and the ``unknown``
    lines of what could not be read. A rail with an unreadable value is kept with that value
    None, so a reader still sees that the rail exists."""
    problems: list[str] = []
    rails: dict[str, Rail] = {}
    found = [rail for hwmon in _hwmon_dirs(root) for rail in _hwmon_rails(root, hwmon, problems)]
    found += [rail for device in sorted(root.glob(INA3221X_IIO_GLOB))
              for rail in _iio_rails(root, device, problems)]
    for rail in found:
        if rail.name in rails:
            problems.append(f"rails[{rail.name}]: on two channels; the first is kept")
        else:
            rails[rail.name] = rail
    if not rails and not problems:
        problems.append("rails: no INA3221 monitor under sys/bus/i2c (hwmon ina3221 or "
                        "ina3221x)")
    return rails, problems


def module_power(rails: Mapping[str, Rail]) -> tuple[float | None, str | None]:
    """The module's draw in W and, where it is None, the ``module_w: why`` line: the input rail
    where the module has one (``VDD_IN``), else the sum of all rails, which is only a proxy
    (AGX Orin; see telemetry/ina3221_rails.yaml) and None when any rail is unreadable, since a
    partial sum would understate the draw."""
    for name in MODULE_INPUT_RAILS:
        if name in rails:
            watts = rails[name].watts
            return (watts, None) if watts is not None else (None, f"module_w: {name} unreadable")
    if not rails:
        return None, "module_w: no rails"
    unread = [name for name, rail in rails.items() if rail.watts is None]
    if unread:
        return None, f"module_w: the sum of the rails lacks {', '.join(unread)}"
    return sum(rail.watts or 0.0 for rail in rails.values()), None


def online_temperatures(zones: Iterable[tuple[str, float | None]]
                        ) -> tuple[dict[str, float], list[str]]:
    """``{name: °C}`` of the zones that measure, and ``temperatures_c[...]`` lines for those
    left out: offline (power-gated, None here), placeholders (:data:`PLACEHOLDER_ZONES`) and a
    name seen twice (the first is kept). Shared by the sysfs and tegrastats readers."""
    temperatures: dict[str, float] = {}
    problems: list[str] = []
    for name, celsius in zones:
        if celsius is None:
            problems.append(f"temperatures_c[{name}]: offline (power-gated, -256 °C)")
        elif name.upper().startswith(PLACEHOLDER_ZONES):
            problems.append(f"temperatures_c[{name}]: a fixed placeholder, not a measurement")
        elif name in temperatures:
            problems.append(f"temperatures_c[{name}]: two zones of that name; the first is kept")
        else:
            temperatures[name] = celsius
    return temperatures, problems


def read_temperatures(root: Path = Path("/")) -> tuple[dict[str, float], list[str]]:
    """The thermal zones under ``root`` that measure, and why the others are left out."""
    zones, errors = thermal_zones(root)
    temperatures, problems = online_temperatures(zones)
    for error in errors:
        zone, _, reason = error.partition(": ")
        problems.append(f"temperatures_c[{zone}]: {reason}")
    if not zones and not errors:
        problems.append(f"temperatures_c: no thermal zones under {THERMAL_DIR}")
    return temperatures, problems


def _gpu_devfreq(root: Path) -> tuple[Path | None, list[Path]]:
    """The GPU's devfreq directory (or None) and its load files by preference: the class entry
    that names the GPU (its ``device`` holds ``load``), then the fixed JetPack 6 and 5 nodes."""
    devfreq: Path | None = None
    loads: list[Path] = []
    for entry in sorted((root / DEVFREQ_CLASS).glob("*")):
        try:
            name = _text(entry / "device" / "of_node" / "name")
        except _UnreadableError:
            continue
        if name in GPU_OF_NAMES or "gpu" in name:
            devfreq = devfreq or entry
            loads.append(entry / "device" / "load")
    for freq_dir, load in GPU_NODES:
        if devfreq is None and (root / freq_dir).is_dir():
            devfreq = root / freq_dir
        loads.append(root / load)
    return devfreq, loads


def read_gpu(root: Path = Path("/")) -> tuple[float | None, float | None, list[str]]:
    """GPU load (0..1, from the driver's per-mille busy average) and clock (Hz, devfreq's
    ``cur_freq``), and the ``unknown`` lines of the ones that could not be read."""
    devfreq, loads = _gpu_devfreq(root)
    problems: list[str] = []
    load: float | None = None
    hz: float | None = None
    load_file = next((path for path in loads if path.exists()), None)
    if load_file is None:
        problems.append(f"gpu_load: no GPU load node ({', '.join(n for _, n in GPU_NODES)})")
    else:
        try:
            load = _integer(load_file, 0, GPU_LOAD_FULL) / GPU_LOAD_FULL
        except _UnreadableError as exc:
            problems.append(f"gpu_load: {_where(root, load_file)}: {exc}")
    if devfreq is None:
        problems.append(f"gpu_hz: no GPU devfreq node ({DEVFREQ_CLASS}, {GPU_NODES[0][0]}, "
                        f"{GPU_NODES[1][0]})")
    else:
        try:
            hz = float(_integer(devfreq / "cur_freq", 0, MAX_HZ))
        except _UnreadableError as exc:
            problems.append(f"gpu_hz: {_where(root, devfreq / 'cur_freq')}: {exc}")
    return load, hz, problems


def _bpmp_rate(root: Path, clock: str, name: str) -> tuple[float | None, str | None]:
    """A clock's rate in Hz from the BPMP's debugfs, or the ``name: why`` line (debugfs is
    mounted and readable for root only, so on a user's run this is the usual answer)."""
    path = root / BPMP_CLK_DIR / clock / "rate"
    try:
        return float(_integer(path, 0, MAX_HZ)), None
    except _UnreadableError as exc:
        return None, f"{name}: {_where(root, path)}: {exc} (BPMP debugfs, readable by root)"


def read_emc(root: Path = Path("/")) -> tuple[float | None, list[str]]:
    """The memory (EMC) clock in Hz. Only the BPMP's debugfs has the live clock: the
    ``nvpmodel_*_cap`` nodes of telemetry/gpu_sysfs.yaml hold the mode's cap, not the clock, and
    are not reported as one. Nothing in sysfs gives the EMC load (tegrastats has it)."""
    hz, problem = _bpmp_rate(root, "emc", "emc_hz")
    problems = [problem] if problem else []
    problems.append("emc_load: no sysfs source (tegrastats' EMC_FREQ % has it)")
    return hz, problems


def dla_cores(root: Path = Path("/")) -> list[str]:
    """The module's DLA cores (``dla0``, ``dla1``; none on Orin Nano), by their devices."""
    return [core for core, dirs in DLA_DEVICES.items() if any((root / d).is_dir() for d in dirs)]


def read_dla(root: Path = Path("/")) -> tuple[dict[str, float], list[str]]:
    """Each DLA core's clock in Hz: the BPMP's programmed rate of ``dla<k>_core``, which stays
    set while the idle engine is clock-gated (tegrastats then prints ``NVDLA0 off``). The
    ``clk_cap`` nodes are the power mode's caps, not clocks, and are not reported as such."""
    clocks: dict[str, float] = {}
    problems: list[str] = []
    for core in dla_cores(root):
        hz, problem = _bpmp_rate(root, f"{core}_core", f"dla_hz[{core}]")
        if hz is not None:
            clocks[core] = hz
        if problem:
            problems.append(problem)
    return clocks, problems


def read_host_stats() -> tuple[float | None, int | None, int | None, list[str]]:
    """This host's CPU use (%) and memory (used, total bytes) from psutil. The CPU figure is
    the use since psutil's previous call in this process (or its import), as ``top`` shows."""
    import psutil

    problems: list[str] = []
    cpu: float | None = None
    used: int | None = None
    total: int | None = None
    try:
        cpu = float(psutil.cpu_percent(interval=None))
    except (OSError, RuntimeError, psutil.Error) as exc:
        problems.append(f"cpu_percent: psutil: {exc}")
    try:
        memory = psutil.virtual_memory()
        used, total = int(memory.used), int(memory.total)
    except (OSError, RuntimeError, psutil.Error) as exc:
        problems += [f"memory_used_bytes: psutil: {exc}", f"memory_total_bytes: psutil: {exc}"]
    return cpu, used, total, problems


#: Why ``throttled`` is None from sysfs.
THROTTLE_UNKNOWN = ("throttled: no reliable sysfs source (the fixtures document none; trip "
                    "points and cooling-device states say what may throttle, not what does)")


def read_telemetry(root: Path = Path("/"), *, psutil_stats: bool = True) -> Telemetry:
    """One sample of everything the tree under ``root`` shows (``source="sysfs"``).

    ``psutil_stats=False`` leaves out this host's CPU and memory (psutil reads the running
    host, never ``root``: a replicated tree has none). ``throttled`` is always None: none of the
    documented nodes (telemetry/*.yaml) says honestly whether a throttle is in force; a thermal
    trip point or cooling-device state says what may throttle, not what does.
    """
    rails, unknown = read_rails(root)
    module_w, module_problem = module_power(rails)
    unknown += [module_problem] if module_problem else []
    temperatures, problems = read_temperatures(root)
    unknown += problems
    gpu_load, gpu_hz, problems = read_gpu(root)
    unknown += problems
    emc_hz, problems = read_emc(root)
    unknown += problems
    dla_hz, problems = read_dla(root)
    unknown += problems
    if psutil_stats:
        cpu, used, total, problems = read_host_stats()
        unknown += problems
    else:
        cpu, used, total = None, None, None
        unknown += [f"{name}: not asked (psutil_stats=False)"
                    for name in ("cpu_percent", "memory_used_bytes", "memory_total_bytes")]
    unknown.append(THROTTLE_UNKNOWN)
    return Telemetry(
        source="sysfs", rails=rails, module_w=module_w, temperatures_c=temperatures,
        gpu_load=gpu_load, gpu_hz=gpu_hz, emc_hz=emc_hz, emc_load=None, dla_hz=dla_hz,
        cpu_percent=cpu, memory_used_bytes=used, memory_total_bytes=total, throttled=None,
        unknown=tuple(unknown))


def telemetry_dict(telemetry: Telemetry) -> dict[str, Any]:
    """A sample as plain data: mappings as dicts, rails by name without repeating it."""
    data = asdict(telemetry)
    data["rails"] = {name: {"volts": rail.volts, "amps": rail.amps, "watts": rail.watts}
                     for name, rail in telemetry.rails.items()}
    data["temperatures_c"] = dict(telemetry.temperatures_c)
    data["dla_hz"] = dict(telemetry.dla_hz)
    data["unknown"] = list(telemetry.unknown)
    return data
