"""The real Jetson module as a :class:`~edge_runtime.power.manager.PowerDevice`.

Where the simulated Jetson takes its modes from a shipped profile (``power/*.yaml``), a module
takes them from its own ``/etc/nvpmodel.conf``: a site may have added or edited modes, and ids
differ between JetPack releases. The conf wins; :func:`profile_notes` says where it differs
from the shipped profile, and :func:`device_profile` is the shipped profile with the conf's
modes (hand it, not the shipped one, to the :class:`~edge_runtime.power.manager.PowerManager`).

Everything here is a subprocess or a sysfs read, so nothing needs a hardware library:

- the current mode: ``nvpmodel -q`` (no sudo; the sudoers rule allows only ``-m N``), else
  nvpmodel's state file ``/var/lib/nvpmodel/status``;
- switching: an injected switch (:class:`~edge_runtime.power.switch.SudoSwitch` outside the
  sandbox, :class:`~edge_runtime.power.switch.AgentSwitch` inside it), after refusing a switch
  that needs a reboot (:func:`~edge_runtime.power.nvpmodel.reboot_reasons`): nvpmodel asks for
  one on a terminal, and ``sudo -n`` has none;
- whether ``jetson_clocks`` pinned the clocks (:func:`jetson_clocks_pinned`, from sysfs under a
  ``root`` that tests point at a replicated tree, or :func:`parse_jetson_clocks_show`);
- telemetry: an injected callable, by default
  :func:`~edge_runtime.power.telemetry.read_telemetry` on the same ``root``.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from pydantic import ValidationError

from edge_runtime.config.power import HardwareSpec, PowerMode, PowerProfile
from edge_runtime.power.nvpmodel import (
    NVPMODEL_STATUS,
    NvpmodelConf,
    NvpmodelMode,
    parse_nvpmodel_query,
    read_nvpmodel,
    read_nvpmodel_status,
    reboot_reasons,
)
from edge_runtime.power.switch import (
    NVPMODEL,
    RebootRequiredError,
    Runner,
    SwitchError,
    reboot_fix,
    run_command,
)
from edge_runtime.power.telemetry import Telemetry, read_telemetry

log = logging.getLogger("edge_runtime.power")

NVPMODEL_CONF = Path("/etc/nvpmodel.conf")
CPU_DIR = "sys/devices/system/cpu"
DEVFREQ_CLASS = "sys/class/devfreq"
#: The GPU's devfreq node where the class entry is missing: JetPack 6 (as nvpmodel -q --verbose
#: on L4T 36.5 names it, and the bus@0 form a JetPack 6.2 Orin Nano shows), then JetPack 5.
GPU_DEVFREQ_DIRS = (
    "sys/devices/platform/17000000.gpu/devfreq_dev",
    "sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
    "sys/devices/17000000.ga10b/devfreq/17000000.ga10b",
)
#: Device-tree names of Jetson GPUs (jetson_stats' list), for the devfreq class entries.
GPU_OF_NAMES = ("gv11b", "gp10b", "ga10b", "gb10b", "gpu")


class Switch(Protocol):
    """What switches the mode: :class:`~edge_runtime.power.switch.SudoSwitch` or
    :class:`~edge_runtime.power.switch.AgentSwitch`."""

    def switch(self, mode_id: int) -> None: ...


# --- the device's modes as profile modes -----------------------------------------------------

def budget_w(name: str) -> float | None:
    """The wattage in a mode's name (``MODE_15W`` -> 15, ``7W_AI`` -> 7); None for MAXN."""
    match = re.search(r"(\d+)W", name)
    return float(match[1]) if match else None


def conf_power_mode(mode: NvpmodelMode, hardware: HardwareSpec,
                    budget: float | None = None) -> PowerMode:
    """A conf mode as a profile mode, by the rules tools/gen_power_profiles.py generates the
    shipped profiles with (so a shipped conf gives back its shipped profile): one CPU cap (the
    highest of the clusters' when a custom mode caps them differently), TPCs left by the mask
    on this module's GPU, one DLA cap per DLA core. A mode that sets no ``CPU_ONLINE`` leaves
    every core as it is: all of them. Raises pydantic's ValidationError for caps a profile
    cannot hold (a zero clock)."""
    caps = list(mode.cpu_max_khz.values())
    return PowerMode(
        id=mode.id, name=mode.name, budget_w=budget, cpu_online=mode.cpu_online or
        hardware.cpu_cores, cpu_max_khz=None if not caps or None in caps else
        max(cap for cap in caps if cap is not None), gpu_tpcs=mode.gpu_tpcs(hardware.gpu_tpcs),
        gpu_max_hz=mode.gpu_max_hz, emc_max_hz=mode.emc_max_hz,
        dla_max_hz=[mode.dla_max_hz.get(core) for core in range(hardware.dla_cores)])


def _by_name(modes: Sequence[PowerMode], name: str) -> PowerMode | None:
    return next((m for m in modes if m.name.upper() == name.upper()), None)


def _conf_modes(conf: NvpmodelConf, profile: PowerProfile) -> tuple[list[PowerMode], list[str]]:
    """The conf's modes as profile modes, and a note for each one a profile cannot hold."""
    modes: list[PowerMode] = []
    notes: list[str] = []
    for mode in conf.modes:
        shipped = _by_name(profile.modes, mode.name)
        budget = shipped.budget_w if shipped is not None else budget_w(mode.name)
        try:
            modes.append(conf_power_mode(mode, profile.hardware, budget))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            notes.append(f"mode {mode.id} {mode.name} ({conf.source}:{mode.line}) cannot be "
                         f"used: {where}: {problem['msg']}")
    return modes, notes


def device_profile(conf: NvpmodelConf, profile: PowerProfile) -> PowerProfile:
    """``profile`` with the conf's modes and default in place of its own: the device's conf
    wins (budgets of modes the shipped profile also has are kept). Raises ValueError if no
    mode of the conf can be used."""
    modes, _ = _conf_modes(conf, profile)
    if not modes:
        raise ValueError(f"{conf.source}: none of its modes can be used as a power mode of "
                         f"{profile.module}")
    ids = {m.id for m in modes}
    default = conf.default_mode if conf.default_mode in ids else modes[0].id
    data = profile.model_dump()
    data.update(modes=[m.model_dump() for m in modes], default_mode=default)
    return PowerProfile.model_validate(data)


#: The fields compared between a conf mode and a shipped one, with how to show their values.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("cpu_online", "CPU cores"), ("cpu_max_khz", "CPU cap"), ("gpu_tpcs", "GPU TPCs"),
    ("gpu_max_hz", "GPU cap"), ("dla_max_hz", "DLA caps"), ("emc_max_hz", "EMC cap"))


def _shown(field: str, value: object) -> str:
    if isinstance(value, list):
        return "/".join(_shown(field, v) for v in value) or "none"
    if value is None:
        return "uncapped"
    if isinstance(value, int) and field.endswith("_khz"):
        return f"{value / 1e3:g} MHz"
    if isinstance(value, int) and field.endswith("_hz"):
        return f"{value / 1e6:g} MHz"
    return str(value)


def _mode_notes(here: PowerMode, shipped: PowerMode) -> str | None:
    """One note for a mode both have, if they differ: the id and every cap that differs."""
    diffs = [f"id {here.id} here, {shipped.id} shipped"] if here.id != shipped.id else []
    for field, label in _FIELDS:
        mine, theirs = getattr(here, field), getattr(shipped, field)
        if mine != theirs:
            diffs.append(f"{label} {_shown(field, mine)} here, {_shown(field, theirs)} shipped")
    return f"mode {here.name}: {'; '.join(diffs)}" if diffs else None


def profile_notes(conf: NvpmodelConf, profile: PowerProfile) -> list[str]:
    """Where the device's conf differs from the shipped profile, one note per mode (the conf
    wins in each): its own modes, modes it lacks, other ids or caps, another default."""
    modes, notes = _conf_modes(conf, profile)
    where = f"the shipped profile {profile.module}"
    for mode in modes:
        shipped = _by_name(profile.modes, mode.name)
        if shipped is None:
            notes.append(f"mode {mode.id} {mode.name} is in {conf.source} but not in {where}: "
                         "used as the conf sets it")
        elif (note := _mode_notes(mode, shipped)) is not None:
            notes.append(f"{note} (the conf's values are used)")
    notes += [f"mode {m.id} {m.name} of {where} is not in {conf.source}: not available here"
              for m in profile.modes if _by_name(modes, m.name) is None]
    default = next((m for m in conf.modes if m.id == conf.default_mode), None)
    if default is not None and default.name.upper() != profile.default.name.upper():
        notes.append(f"default mode {default.name} ({default.id}) in {conf.source}, "
                     f"{profile.default.name} ({profile.default.id}) in {where}")
    return notes


# --- jetson_clocks ---------------------------------------------------------------------------

def _int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def _both(first: bool | None, second: bool | None) -> bool | None:
    """False if either is False, True if both are True, else unknown."""
    if first is False or second is False:
        return False
    return True if first and second else None


def _cpus_pinned(root: Path) -> bool | None:
    """Every online core's ``scaling_min_freq == scaling_max_freq`` (None: none readable, or
    an online core unreadable). cpu0 has no ``online`` file: it is always online."""
    verdicts: list[bool | None] = []
    for cpu in sorted((root / CPU_DIR).glob("cpu[0-9]*")):
        online = _int(cpu / "online") if (cpu / "online").exists() else 1
        if online == 0:
            continue
        low, high = (_int(cpu / "cpufreq" / name)
                     for name in ("scaling_min_freq", "scaling_max_freq"))
        verdicts.append(None if low is None or high is None else low == high)
    if not verdicts or False in verdicts:
        return False if verdicts else None
    return None if None in verdicts else True


def gpu_devfreq(root: Path) -> Path | None:
    """The GPU's devfreq directory under ``root``: the class entry whose name or device-tree
    node names a Jetson GPU (``17000000.ga10b`` on JetPack 5, ``17000000.gpu`` on 6), else
    the fixed nodes of :data:`GPU_DEVFREQ_DIRS`."""
    for entry in sorted((root / DEVFREQ_CLASS).glob("*")):
        of_name = entry / "device" / "of_node" / "name"
        try:
            node = of_name.read_text(encoding="ascii").strip("\0\n ") if of_name.exists() else ""
        except (OSError, UnicodeDecodeError):
            node = ""
        suffix = entry.name.rsplit(".", 1)[-1]
        if suffix in GPU_OF_NAMES or node in GPU_OF_NAMES:
            return entry
    return next((root / d for d in GPU_DEVFREQ_DIRS if (root / d).is_dir()), None)


def _gpu_pinned(root: Path) -> bool | None:
    devfreq = gpu_devfreq(root)
    if devfreq is None:
        return None
    low, high = _int(devfreq / "min_freq"), _int(devfreq / "max_freq")
    return None if low is None or high is None else low == high


def jetson_clocks_pinned(root: Path = Path("/")) -> bool | None:
    """Whether ``jetson_clocks`` pinned the clocks, read from sysfs under ``root``: every online
    CPU core's ``scaling_min_freq`` equals its ``scaling_max_freq``, and the GPU devfreq's
    ``min_freq`` its ``max_freq``. That is what jetson_clocks writes (its ``--show`` before and
    after, in the fixtures) and what jetson_stats checks; "the max" is the mode's cap, since
    jetson_clocks pins to the caps nvpmodel left. False if either differs; None if either
    cannot be read (the EMC override is in root-only debugfs, so it is not consulted)."""
    return _both(_cpus_pinned(root), _gpu_pinned(root))


@dataclass(frozen=True)
class ClockRange:
    """One ``... MinFreq=a MaxFreq=b CurrentFreq=c`` line of ``jetson_clocks --show``."""

    min: int
    max: int
    current: int | None = None
    online: bool = True


@dataclass(frozen=True)
class JetsonClocksShow:
    """What ``jetson_clocks --show`` printed (kHz for CPUs, Hz for the rest, as it prints)."""

    cpus: Mapping[str, ClockRange]
    gpu: ClockRange | None
    emc: ClockRange | None
    emc_override: bool | None
    """``FreqOverride=1``: jetson_clocks holds the memory clock."""
    power_mode: str | None

    @property
    def pinned(self) -> bool | None:
        """The same test as :func:`jetson_clocks_pinned`: online cores and GPU at min == max."""
        online = [c.min == c.max for c in self.cpus.values() if c.online]
        cpus = all(online) if online else None
        return _both(cpus, None if self.gpu is None else self.gpu.min == self.gpu.max)


_SHOW_CLOCK = re.compile(r"^(?P<name>cpu\d+|GPU|EMC):\s*(?P<fields>.*)$")
_SHOW_FIELD = re.compile(r"(?P<key>\w+)=(?P<value>\S+)")
_SHOW_MODE = re.compile(r"^NV Power Mode:\s*(?P<name>\S+)")


def _clock(fields: Mapping[str, str]) -> ClockRange | None:
    try:
        return ClockRange(int(fields["MinFreq"]), int(fields["MaxFreq"]),
                          int(fields["CurrentFreq"]) if "CurrentFreq" in fields else None,
                          fields.get("Online", "1") != "0")
    except (KeyError, ValueError):
        return None


def parse_jetson_clocks_show(text: str) -> JetsonClocksShow | None:
    """Parse ``jetson_clocks --show``: ``cpuN: Online=1 Governor=... MinFreq=... MaxFreq=...
    CurrentFreq=...``, ``GPU MinFreq=... MaxFreq=...``, ``EMC ... FreqOverride=0|1`` and
    ``NV Power Mode: X`` (the same on L4T 32 to 36; other lines are skipped). No CPU and no
    GPU line: None and a warning."""
    cpus: dict[str, ClockRange] = {}
    found: dict[str, ClockRange | None] = {}
    override: bool | None = None
    mode: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if (match := _SHOW_MODE.match(line)) is not None:
            mode = match["name"]
            continue
        match = _SHOW_CLOCK.match(line.replace("GPU ", "GPU: ", 1).replace("EMC ", "EMC: ", 1))
        if match is None:
            continue
        fields = {m["key"]: m["value"] for m in _SHOW_FIELD.finditer(match["fields"])}
        clock = _clock(fields)
        if match["name"].startswith("cpu"):
            if clock is not None:
                cpus[match["name"]] = clock
        else:
            found[match["name"]] = clock
        if match["name"] == "EMC" and "FreqOverride" in fields:
            override = fields["FreqOverride"] == "1"
    if not cpus and found.get("GPU") is None:
        log.warning("jetson_clocks --show: no cpuN or GPU clock line in %r", text.strip()[:80])
        return None
    return JetsonClocksShow(MappingProxyType(cpus), found.get("GPU"), found.get("EMC"),
                            override, mode)


# --- the device ------------------------------------------------------------------------------

class JetsonDevice:
    """A Jetson module: its conf's modes, its current mode, and switching it (never through a
    reboot). Shared by lane threads, hence the lock around the known mode."""

    simulated = False

    def __init__(self, profile: PowerProfile, switch: Switch, *,
                 conf_path: Path = NVPMODEL_CONF, root: Path = Path("/"),
                 run: Runner = run_command, nvpmodel: str = NVPMODEL,
                 telemetry: Callable[[], Telemetry] | None = None,
                 reboot_modes: Collection[str] = ()) -> None:
        """``profile``: the shipped profile of this module (its hardware facts; its modes only
        for the notes). ``conf_path``: the device's nvpmodel.conf (read now; a missing or
        malformed one raises, as a device without it cannot be run). ``root``: where sysfs and
        ``var/lib/nvpmodel/status`` are found. ``run``: runs ``nvpmodel -q``. ``reboot_modes``:
        modes a switch into or out of always needs a reboot for (site knowledge)."""
        self.shipped = profile
        self.conf_path = Path(conf_path)
        self.conf = read_nvpmodel(self.conf_path)
        self.profile = device_profile(self.conf, profile)
        self.notes = profile_notes(self.conf, profile)
        for note in self.notes:
            log.warning("%s: %s", self.conf_path, note)
        self.switcher = switch
        self.root = root
        self.run = run
        self.nvpmodel = nvpmodel
        self.reboot_modes = tuple(reboot_modes)
        self._telemetry = telemetry or functools.partial(read_telemetry, root)
        self._lock = threading.Lock()
        self._mode: PowerMode | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    # --- the current mode --------------------------------------------------------------------

    @property
    def mode(self) -> PowerMode:
        """The mode the module is in: last read or set (read on first use)."""
        with self._lock:
            known = self._mode
        return known if known is not None else self.refresh()

    def refresh(self) -> PowerMode:
        """Read the current mode from the module again (``nvpmodel -q``, else its state file);
        if neither says, keep the last known one, or assume the conf's default (a warning)."""
        current = self.current_conf_mode()
        with self._lock:
            if current is not None:
                self._mode = self.profile.find_mode(current.id)
            if self._mode is None:
                log.warning("cannot tell %s's power mode; assuming the default, %s",
                            self.name, self.profile.default.name)
                self._mode = self.profile.default
            return self._mode

    def current_conf_mode(self) -> NvpmodelMode | None:
        """The conf mode the module is in now, or None (with a warning) if it cannot be told."""
        argv = [self.nvpmodel, "-q"]
        try:
            result = self.run(argv)
            text = f"{result.stdout}\n{result.stderr}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("%s: %s", " ".join(argv), exc)
            text = ""
        query = parse_nvpmodel_query(text, " ".join(argv)) if text else None
        if query is not None:
            mode = self._resolve(query.id, query.name)
            if mode is not None:
                return mode
        status = read_nvpmodel_status(self.root / NVPMODEL_STATUS.relative_to("/"))
        return self._resolve(status.mode_id, None) if status is not None else None

    def _resolve(self, mode_id: int | None, name: str | None) -> NvpmodelMode | None:
        """The conf mode with this id and name; by name if the id names another (the conf
        changed since the switch), else by id alone."""
        by_id = next((m for m in self.conf.modes if m.id == mode_id), None)
        if by_id is not None and (name is None or by_id.name.upper() == name.upper()):
            return by_id
        by_name = next((m for m in self.conf.modes
                        if name is not None and m.name.upper() == name.upper()), None)
        chosen = by_name or by_id
        log.warning("nvpmodel reports mode %s %s; %s has %s", mode_id, name, self.conf_path,
                    f"{chosen.name} ({chosen.id})" if chosen else "no such mode")
        return chosen

    # --- switching ---------------------------------------------------------------------------

    def apply_mode(self, mode: PowerMode) -> None:
        """Switch to ``mode`` (found in the conf by name: ids differ between releases), unless
        that needs a reboot: then a :class:`RebootRequiredError` says why and what to do,
        before anything runs. The current mode is read from the module first, so a switch
        made by hand since is accounted for."""
        target = next((m for m in self.conf.modes if m.name.upper() == mode.name.upper()), None)
        if target is None:
            raise SwitchError(f"mode {mode.name} is not in {self.conf_path} (its modes: "
                              f"{', '.join(m.name for m in self.conf.modes)})")
        current = self.current_conf_mode()
        if current is not None and current.id == target.id:
            self._remember(target)
            return
        if current is None:
            log.warning("switching to %s without knowing the current mode: a switch that "
                        "needs a reboot is caught only by nvpmodel's answer", target.name)
        else:
            self._refuse_reboot(current, target)
        self.switcher.switch(target.id)
        self._remember(target)

    def _refuse_reboot(self, current: NvpmodelMode, target: NvpmodelMode) -> None:
        reasons = reboot_reasons(current, target, self.reboot_modes)
        if not reasons:
            return
        live = [m.name for m in self.conf.modes if m.id not in (current.id, target.id)
                and not reboot_reasons(current, m, self.reboot_modes)]
        others = f" ({', '.join(live)} switch from {current.name} without one)" if live else ""
        raise RebootRequiredError(
            f"switching {current.name} (mode {current.id}) -> {target.name} (mode {target.id}) "
            f"needs a reboot ({'; '.join(reasons)}), and nvpmodel asks for it on a terminal "
            f"that sudo -n does not have; nothing was run: {reboot_fix(target.id)}{others}")

    def _remember(self, target: NvpmodelMode) -> None:
        with self._lock:
            self._mode = self.profile.find_mode(target.id)

    # --- clocks and telemetry ----------------------------------------------------------------

    @property
    def jetson_clocks(self) -> bool | None:
        """Whether ``jetson_clocks`` pinned the clocks (None: cannot tell)."""
        return jetson_clocks_pinned(self.root)

    def telemetry(self) -> Telemetry:
        """One sample of what the module measures of itself."""
        return self._telemetry()
