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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

__all__ = [
    "NvpmodelConf",
    "NvpmodelMode",
    "NvpmodelParam",
    "NvpmodelParseError",
    "NvpmodelSetting",
    "parse_nvpmodel",
    "read_nvpmodel",
]

ParamType = Literal["FILE", "CLOCK"]

_HEADER = re.compile(r"^<\s*(?P<kind>[A-Z_]+)(?P<attrs>(?:\s+[^\s=<>]+=[^\s<>]*)*)\s*>$")
_DLA_CORE = re.compile(r"^DLA(\d+)_CORE$")
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
