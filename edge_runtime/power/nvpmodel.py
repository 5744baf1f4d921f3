"""A parser for L4T's ``nvpmodel.conf``: the power modes a Jetson module offers.

On a Jetson the runtime reads ``/etc/nvpmodel.conf`` to resolve a mode by name; mode ids differ
between modules and JetPack releases, so they are never hard-coded. This module only parses text:
it reads no sysfs node and writes none.

The format (documented in every conf's header)::

    < PARAM TYPE=FILE|CLOCK NAME=param >      a parameter: one ``ARG sysfs_path`` per line
    < POWER_MODEL ID=n NAME=mode_name >       a mode: one ``PARAM ARG VALUE`` per line
    < PM_CONFIG DEFAULT=n >                   the default mode (mandatory)

A CLOCK value is an integer (``-1`` = INT_MAX, i.e. no cap); a FILE value is a string written to
the node as is. ``#`` starts a comment line. Spacing inside ``< >`` is irregular in NVIDIA's own
files (``<PARAM TYPE=CLOCK NAME=EMC >``), so any run of blanks separates fields.

The derived caps use these conventions (those of L4T's confs): CPU clocks in kHz, every other
clock in Hz; ``None`` means no cap (CLOCK ``-1``; for EMC also ``0``, which JetPack 5 confs use
for "no cap"), or that the mode does not set that clock.

It also reads what nvpmodel says about the running module: the output of ``nvpmodel -q`` (and
``-q --verbose``) and its state file ``/var/lib/nvpmodel/status``
(:func:`parse_nvpmodel_query`, :func:`parse_nvpmodel_status`), and says which switches between
two modes need a reboot (:func:`reboot_reasons`). Output it cannot make sense of is a warning
and None, never an exception: the device still runs, only less is known about it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

__all__ = [
    "NVPMODEL_STATUS",
    "NvpmodelConf",
    "NvpmodelMode",
    "NvpmodelParam",
    "NvpmodelParseError",
    "NvpmodelQuery",
    "NvpmodelReading",
    "NvpmodelSetting",
    "NvpmodelStatus",
    "parse_nvpmodel",
    "parse_nvpmodel_query",
    "parse_nvpmodel_status",
    "read_nvpmodel",
    "read_nvpmodel_status",
    "reboot_reasons",
]

log = logging.getLogger("edge_runtime.power")

ParamType = Literal["FILE", "CLOCK"]

_HEADER = re.compile(r"^<\s*(?P<kind>[A-Z_]+)(?P<attrs>(?:\s+[^\s=<>]+=[^\s<>]*)*)\s*>$")
_DLA_CORE = re.compile(r"^DLA(\d+)_CORE$")
_CORE = re.compile(r"^CORE_(\d+)$")
_NO_CAP = -1


class NvpmodelParseError(ValueError):
    """A malformed nvpmodel.conf; the message names the file, the line and what is wrong."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class NvpmodelParam:
    """A ``< PARAM >`` section: named arguments, each a sysfs path."""

    name: str
    type: ParamType
    paths: Mapping[str, str]
    """Argument name (``MAX_FREQ``, ``CORE_3``, ...) to sysfs path, in file order."""
    line: int


@dataclass(frozen=True)
class NvpmodelSetting:
    """One ``PARAM ARG VALUE`` line of a mode (an int for CLOCK params, a str for FILE)."""

    param: str
    arg: str
    value: int | str
    line: int


@dataclass(frozen=True)
class NvpmodelMode:
    """A ``< POWER_MODEL >`` section, with the caps it sets."""

    id: int
    name: str
    line: int
    settings: tuple[NvpmodelSetting, ...]
    cpu_online: int
    """CPU cores the mode brings online (``CPU_ONLINE CORE_n 1`` lines)."""
    cpu_max_khz: Mapping[str, int | None]
    """CPU clock cap per CPU CLOCK param the mode sets (``CPU_A78_0``: per cluster in JetPack 5
    confs, per core in some JetPack 6 confs)."""
    gpu_max_hz: int | None
    tpc_pg_mask: int | None
    """TPC power-gating mask (a set bit gates one TPC); ``None`` if the mode does not set it."""
    emc_max_hz: int | None
    dla_max_hz: Mapping[int, int | None]
    """Core clock cap per DLA index (``DLA0_CORE``, ``DLA1_CORE``) the mode sets."""

    @property
    def online_cores(self) -> frozenset[int]:
        """The CPU cores the mode brings online (``CPU_ONLINE CORE_n 1``), by number."""
        return frozenset(int(core[1]) for s in self.settings
                         if s.param == "CPU_ONLINE" and s.value == "1"
                         and (core := _CORE.match(s.arg)))

    def setting(self, param: str, arg: str) -> int | str | None:
        """The value the mode sets for ``param arg``, or None if it sets none."""
        return next((s.value for s in self.settings if (s.param, s.arg) == (param, arg)), None)

    def gpu_tpcs(self, hardware_tpcs: int) -> int:
        """TPCs left powered on a GPU with ``hardware_tpcs`` TPCs (mask bits beyond them are
        ignored: on Orin ``8 - popcount(mask)`` for 8 TPCs; AGX Orin 32GB's 7-TPC GPU has bit 7
        set in every mode)."""
        if self.tpc_pg_mask is None:
            return hardware_tpcs
        return hardware_tpcs - (self.tpc_pg_mask & ((1 << hardware_tpcs) - 1)).bit_count()


@dataclass(frozen=True)
class NvpmodelConf:
    """A parsed nvpmodel.conf."""

    source: str
    params: Mapping[str, NvpmodelParam]
    modes: tuple[NvpmodelMode, ...]
    default_mode: int
    """Id of the default mode (``PM_CONFIG DEFAULT``)."""

    def mode(self, ref: int | str) -> NvpmodelMode:
        """A mode by id or by name (case-insensitive); ``KeyError`` if there is none."""
        for mode in self.modes:
            if isinstance(ref, int):
                if mode.id == ref:
                    return mode
            elif mode.name.upper() == ref.upper():
                return mode
        raise KeyError(ref)

    @property
    def default(self) -> NvpmodelMode:
        return self.mode(self.default_mode)


def read_nvpmodel(path: str | Path) -> NvpmodelConf:
    """Parse the nvpmodel.conf at ``path``."""
    return parse_nvpmodel(Path(path).read_text(encoding="utf-8"), source=str(path))


def parse_nvpmodel(text: str, source: str = "<nvpmodel.conf>") -> NvpmodelConf:
    """Parse nvpmodel.conf text; raises :class:`NvpmodelParseError` on malformed input."""
    return _Parser(source).parse(text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.params: dict[str, NvpmodelParam] = {}
        self.modes: list[NvpmodelMode] = []
        self.default: tuple[int, int] | None = None  # (mode id, line)
        # The section being read: its kind, header attributes and body lines.
        self.kind: str | None = None
        self.attrs: dict[str, str] = {}
        self.start = 0
        self.body: list[tuple[int, list[str]]] = []

    def error(self, line: int, reason: str) -> NvpmodelParseError:
        return NvpmodelParseError(self.source, line, reason)

    def parse(self, text: str) -> NvpmodelConf:
        last = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            last = number
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("<"):
                self.close()
                self.open(number, line)
            elif self.kind is None:
                raise self.error(number, f"'{line}' is outside any < PARAM >, < POWER_MODEL > "
                                         "or < PM_CONFIG > section")
            else:
                self.body.append((number, line.split()))
        self.close()
        end = max(last, 1)  # errors about what is missing name the last line
        if not self.modes:
            raise self.error(end, "end of file without a < POWER_MODEL ID=n NAME=name > section")
        if self.default is None:
            raise self.error(end, "end of file without the mandatory < PM_CONFIG DEFAULT=n > "
                                  "section")
        default, default_line = self.default
        if default not in {m.id for m in self.modes}:
            raise self.error(default_line, f"PM_CONFIG DEFAULT={default} is not one of the mode "
                                           f"ids {[m.id for m in self.modes]}")
        return NvpmodelConf(self.source, MappingProxyType(self.params), tuple(self.modes), default)

    def open(self, number: int, line: str) -> None:
        match = _HEADER.match(line)
        if match is None:
            raise self.error(number, f"malformed section header '{line}' (expected "
                                     "'< KIND KEY=VALUE ... >')")
        kind = match["kind"]
        if kind not in ("PARAM", "POWER_MODEL", "PM_CONFIG"):
            raise self.error(number, f"unknown section '{kind}' (expected PARAM, POWER_MODEL "
                                     "or PM_CONFIG)")
        attrs: dict[str, str] = {}
        for pair in match["attrs"].split():
            key, _, value = pair.partition("=")
            if key in attrs:
                raise self.error(number, f"{kind}: {key} given twice")
            attrs[key] = value
        self.kind, self.attrs, self.start, self.body = kind, attrs, number, []

    def attr(self, key: str, *, integer: bool = False) -> str:
        value = self.attrs.get(key, "")
        if not value:
            raise self.error(self.start, f"{self.kind} section without {key}=")
        if integer and not _is_int(value):
            raise self.error(self.start, f"{self.kind} {key}={value} is not an integer")
        return value

    def close(self) -> None:
        if self.kind == "PARAM":
            self.close_param()
        elif self.kind == "POWER_MODEL":
            self.close_mode()
        elif self.kind == "PM_CONFIG":
            if self.default is not None:
                raise self.error(self.start, f"second PM_CONFIG section (the first is on line "
                                             f"{self.default[1]})")
            self.default = (int(self.attr("DEFAULT", integer=True)), self.start)
            if self.body:
                raise self.error(self.body[0][0], "PM_CONFIG takes no lines")
        self.kind = None

    def close_param(self) -> None:
        name, kind = self.attr("NAME"), self.attr("TYPE")
        if kind not in ("FILE", "CLOCK"):
            raise self.error(self.start, f"PARAM {name}: TYPE={kind} is neither FILE nor CLOCK")
        if name in self.params:
            raise self.error(self.start, f"PARAM {name} is defined twice (first on line "
                                         f"{self.params[name].line})")
        paths: dict[str, str] = {}
        for number, fields in self.body:
            if len(fields) != 2:
                raise self.error(number, f"PARAM {name}: expected 'ARG_NAME PATH', got "
                                         f"'{' '.join(fields)}'")
            if fields[0] in paths:
                raise self.error(number, f"PARAM {name}: argument {fields[0]} given twice")
            paths[fields[0]] = fields[1]
        param_type: ParamType = "FILE" if kind == "FILE" else "CLOCK"
        self.params[name] = NvpmodelParam(name, param_type, MappingProxyType(paths), self.start)

    def close_mode(self) -> None:
        mode_id = int(self.attr("ID", integer=True))
        name = self.attr("NAME")
        for other in self.modes:
            if other.id == mode_id:
                raise self.error(self.start, f"POWER_MODEL ID={mode_id} is defined twice "
                                             f"(first on line {other.line})")
        settings = tuple(self.setting(number, fields) for number, fields in self.body)
        seen: dict[tuple[str, str], int] = {}
        for s in settings:
            if (s.param, s.arg) in seen:
                raise self.error(s.line, f"mode {name}: {s.param} {s.arg} set twice (first on "
                                         f"line {seen[s.param, s.arg]})")
            seen[s.param, s.arg] = s.line
        self.modes.append(_mode(mode_id, name, self.start, settings))

    def setting(self, number: int, fields: list[str]) -> NvpmodelSetting:
        if len(fields) != 3:
            raise self.error(number, f"expected 'PARAM_NAME ARG_NAME VALUE', got "
                                     f"'{' '.join(fields)}'")
        name, arg, value = fields
        param = self.params.get(name)
        if param is None:
            raise self.error(number, f"unknown PARAM '{name}' (defined: "
                                     f"{', '.join(self.params) or 'none'})")
        if arg not in param.paths:
            raise self.error(number, f"PARAM {name} has no argument '{arg}' (it has: "
                                     f"{', '.join(param.paths)})")
        if param.type == "FILE":
            if name == "CPU_ONLINE" and value not in ("0", "1"):
                raise self.error(number, f"CPU_ONLINE {arg}: value '{value}' is not 0 or 1")
            if name == "TPC_POWER_GATING" and not _is_int(value):
                raise self.error(number, f"TPC_POWER_GATING {arg}: mask '{value}' is not an "
                                         "integer")
            return NvpmodelSetting(name, arg, value, number)
        if not _is_int(value):
            raise self.error(number, f"CLOCK {name} {arg}: value '{value}' is not an integer")
        clock = int(value)
        if clock < _NO_CAP:
            raise self.error(number, f"CLOCK {name} {arg}: value {clock} is negative (only -1, "
                                     "'no cap', is allowed)")
        return NvpmodelSetting(name, arg, clock, number)


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _mode(mode_id: int, name: str, line: int,
          settings: tuple[NvpmodelSetting, ...]) -> NvpmodelMode:
    """A mode with its caps derived from its settings."""
    cpu_online = 0
    cpu: dict[str, int | None] = {}
    dla: dict[int, int | None] = {}
    gpu = emc = mask = None
    for s in settings:
        if s.param == "CPU_ONLINE":
            cpu_online += 1 if s.value == "1" else 0
        elif s.param == "TPC_POWER_GATING" and s.arg == "TPC_PG_MASK":
            mask = int(s.value)
        elif s.arg != "MAX_FREQ" or not isinstance(s.value, int):
            continue
        elif s.param.startswith("CPU"):
            cpu[s.param] = _cap(s.value)
        elif s.param == "GPU":
            gpu = _cap(s.value)
        elif s.param == "EMC":
            emc = _cap(s.value) if s.value != 0 else None
        elif dla_core := _DLA_CORE.match(s.param):
            dla[int(dla_core[1])] = _cap(s.value)
    return NvpmodelMode(
        id=mode_id, name=name, line=line, settings=settings, cpu_online=cpu_online,
        cpu_max_khz=MappingProxyType(cpu), gpu_max_hz=gpu, tpc_pg_mask=mask, emc_max_hz=emc,
        dla_max_hz=MappingProxyType(dict(sorted(dla.items()))),
    )


def _cap(value: int) -> int | None:
    return None if value == _NO_CAP else value


# --- what nvpmodel says about the running module ---------------------------------------------

#: nvpmodel's state file: the mode it last set, read again at boot.
NVPMODEL_STATUS = Path("/var/lib/nvpmodel/status")

_QUERY_MODE = re.compile(r"^(?:NVPM VERB:\s*Current mode:\s*)?NV Power Mode:\s*(?P<name>\S+)$")
_QUERY_ID = re.compile(r"^\d{1,4}$")
_QUERY_FAN = re.compile(r"^NV Fan Mode:\s*(?P<fan>\S+)$")
_QUERY_READING = re.compile(
    r"^NVPM VERB: PARAM (?P<param>\S+): ARG (?P<arg>\S+): PATH (?P<path>\S+): "
    r"REAL_VAL: (?P<real>\S*) CONF_VAL: (?P<conf>\S*)$")
_STATUS_MODE = re.compile(r"(?:^|\s)pmode:(?P<id>\d{1,4})(?=\s|$)")
_STATUS_FAN = re.compile(r"(?:^|\s)fmode:(?P<fan>\S+)")


@dataclass(frozen=True)
class NvpmodelReading:
    """One ``--verbose`` line: what a node holds now (``REAL_VAL``) and what the mode wants
    (``CONF_VAL``). JetPack 6 shows the ``-1`` of "no cap" as INT64 max in ``CONF_VAL``."""

    param: str
    arg: str
    path: str
    real: str
    conf: str


@dataclass(frozen=True)
class NvpmodelQuery:
    """What ``nvpmodel -q`` said: the mode it is in, and what it warned about on the way."""

    name: str
    id: int | None
    """None when the id line after ``NV Power Mode:`` was missing or not a number."""
    fan_mode: str | None = None
    """``NV Fan Mode:cool`` (Xavier-era nvpmodel prints it; Orin's does not)."""
    messages: tuple[str, ...] = ()
    """``NVPM WARN`` / ``NVPM ERROR`` lines, verbatim."""
    readings: tuple[NvpmodelReading, ...] = ()
    """The ``--verbose`` PARAM lines, in output order (empty without ``--verbose``)."""


@dataclass(frozen=True)
class NvpmodelStatus:
    """``/var/lib/nvpmodel/status``: the mode nvpmodel last set (and Xavier's fan mode)."""

    mode_id: int
    fan_mode: str | None = None


def parse_nvpmodel_query(text: str, source: str = "nvpmodel -q") -> NvpmodelQuery | None:
    """Parse the output of ``nvpmodel -q`` or ``nvpmodel -q --verbose``.

    The formats, from real captures (tests/fixtures/nvpmodel/README.md names them)::

        NV Power Mode: MAXN                          JetPack 5/6 (Orin)
        0
        NVPM WARN: fan mode is not set!              warnings may come first (L4T 32)
        NV Fan Mode:cool                             Xavier-era nvpmodel
        NVPM VERB: Current mode: NV Power Mode: 40W  --verbose (L4T 36.5), then PARAM lines:
        4
        NVPM VERB: PARAM GPU: ARG MAX_FREQ: PATH /sys/...: REAL_VAL: 1173000000 CONF_VAL: ...

    No ``NV Power Mode:`` line: None and a warning. A mode name without a readable id line after
    it: the name with ``id=None`` and a warning (the name alone still finds the mode in the
    conf). Never raises.
    """
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        match = _QUERY_MODE.match(line)
        if match is None:
            continue
        following = next((rest for rest in lines[index + 1:] if rest), "")
        mode_id = int(following) if _QUERY_ID.match(following) else None
        if mode_id is None:
            log.warning("%s: no mode id after '%s' (got %r); using the name alone", source,
                        line, following)
        return NvpmodelQuery(
            name=match["name"], id=mode_id, fan_mode=_first(_QUERY_FAN, lines, "fan"),
            messages=tuple(line for line in lines if line.startswith(("NVPM WARN",
                                                                       "NVPM ERROR"))),
            readings=tuple(NvpmodelReading(*m.group("param", "arg", "path", "real", "conf"))
                           for m in map(_QUERY_READING.match, lines) if m))
    said = next((line for line in lines if line), "")
    log.warning("%s: no 'NV Power Mode:' line in its output (%s)", source,
                f"it said {said!r}" if said else "it printed nothing")
    return None


def _first(pattern: re.Pattern[str], lines: list[str], group: str) -> str | None:
    return next((m[group] for m in map(pattern.match, lines) if m), None)


def parse_nvpmodel_status(text: str, source: str = str(NVPMODEL_STATUS)) -> NvpmodelStatus | None:
    """Parse nvpmodel's state file: ``pmode:0002`` on JetPack 6 Orin, ``pmode:0008
    fmode:quiet`` where nvpmodel also keeps a fan mode (Xavier). The format is not documented
    by NVIDIA; these two forms are what public reports show (README of the fixtures), so
    anything without a ``pmode:NNNN`` field is a warning and None."""
    match = _STATUS_MODE.search(text)
    if match is None:
        log.warning("%s: no 'pmode:NNNN' field in %r", source, text.strip()[:80])
        return None
    fan = _STATUS_FAN.search(text)
    return NvpmodelStatus(int(match["id"]), fan["fan"] if fan else None)


def read_nvpmodel_status(path: Path = NVPMODEL_STATUS) -> NvpmodelStatus | None:
    """The mode in nvpmodel's state file (readable without root), or None with a warning."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.warning("%s: %s", path, exc.strerror or exc)
        return None
    return parse_nvpmodel_status(text, str(path))


# --- switches that need a reboot -------------------------------------------------------------

#: The GPU power-gating masks: nvpmodel cannot change them on a running GPU.
_GATING = (("TPC_POWER_GATING", "TPC_PG_MASK"), ("FBP_POWER_GATING", "FBP_PG_MASK"))


def reboot_reasons(current: NvpmodelMode, target: NvpmodelMode,
                   always: Collection[str] = ()) -> tuple[str, ...]:
    """Why switching ``current`` -> ``target`` needs a reboot (empty: it does not).

    On Orin (T234), nvpmodel asks ``DO YOU WANT TO REBOOT NOW?`` instead of switching when the
    target changes what cannot change on a running module: the CPU cores online
    (``CPU_ONLINE``) or the GPU's TPC/FBP power-gating masks. Public captures show it for
    AGX Orin MODE_30W -> MAXN (8 -> 12 cores, TPC mask 240 -> 0) and Orin Nano 15W <-> 7W
    (6 -> 4 cores, mask 240 -> 252), and a live switch between modes that keep both (Orin Nano
    Super 15W, 25W, MAXN_SUPER). jetson_stats also marks a mode switchable only if its TPC mask
    equals the current one. ``always`` names modes (case-insensitive) that need a reboot into
    or out of them whatever they set: site knowledge, since no conf marks such a mode.
    """
    reasons: list[str] = []
    cores_now, cores_then = current.online_cores, target.online_cores
    if cores_now and cores_then and cores_now != cores_then:
        reasons.append(f"CPU cores online {_cores(cores_now)} -> {_cores(cores_then)}")
    for param, arg in _GATING:
        now, then = current.setting(param, arg), target.setting(param, arg)
        if now is not None and then is not None and str(now).strip() != str(then).strip():
            reasons.append(f"GPU {arg} {now} -> {then}")
    marked = {name.upper() for name in always}
    names = [current.name] + ([target.name] if target.name != current.name else [])
    reasons += [f"{name} is marked as needing a reboot" for name in names
                if name.upper() in marked]
    return tuple(reasons)


def _cores(cores: frozenset[int]) -> str:
    """``8 (0-7)``, ``4 (0-1,4-5)``: the count and the cores as ranges."""
    ranges: list[str] = []
    for core in sorted(cores):
        if ranges and core - 1 in cores:
            start = ranges[-1].split("-")[0]
            ranges[-1] = f"{start}-{core}"
        else:
            ranges.append(str(core))
    return f"{len(cores)} ({','.join(ranges)})"
