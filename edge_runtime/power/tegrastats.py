"""Parsing tegrastats lines, and running tegrastats as the fallback telemetry reader.

tegrastats (L4T's own monitor) prints one line per interval with what the module measures of
itself; where sysfs is not readable (a container without /sys, debugfs without root) it is the
other way in. The formats are those of JetPack 4, 5, 6 and 7 as captured in the shared fixtures
``tegrastats/tegrastats_samples.yaml`` and described in ``field_reference.yaml``:

- ``MM-DD-YYYY HH:MM:SS`` timestamp (JetPack 5 and later), ``RAM X/YMB (lfb NxZMB)``,
  ``SWAP X/YMB (cached ZMB)``, ``IRAM X/YkB (lfb ZkB)``;
- ``CPU [X%@F,...,off]`` (one entry per core; ``off`` = offline) or ``CPU [X%,...]@F``;
- ``EMC_FREQ X%@F``, ``GR3D_FREQ X%@F`` | ``X%@[F0,F1]`` (per GPC) | ``X%`` (no clock without
  root on JetPack 6), ``GR3D2_FREQ X%@F``;
- engine clocks ``NAME F`` or ``NAME off`` (``VIC_FREQ 729``, ``APE 174``, ``NVDLA0 off``);
- temperatures ``NAME@TC`` or ``NAME@TC/TmaxC`` (-256C = offline: left out);
- rails ``NAME CURmW/AVGmW`` or ``CUR/AVG/MAX`` (Xavier prints no unit; ``NC`` is skipped).

A line that is malformed or truncated never raises: what could be read is kept, the rest is
None or absent with a ``field: why`` line in ``Telemetry.unknown``, and a warning is logged.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType

from edge_runtime.power.telemetry import (
    NOT_CONNECTED,
    OFFLINE_C,
    Rail,
    Telemetry,
    module_power,
    online_temperatures,
)

log = logging.getLogger("edge_runtime.power.tegrastats")

#: tegrastats' MB are MiB: it divides /proc/meminfo's kB by 1024.
UNIT_BYTES = {"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
#: Beyond these a number is malformed, not a reading: no Jetson rail draws 1 kW, no clock
#: runs at 100 GHz and silicon shuts down long before 200 °C.
MAX_RAIL_MW = 1_000_000
MAX_MHZ = 100_000
MAX_PLAUSIBLE_C = 200.0
MIN_PLAUSIBLE_C = -100.0

_NUM = r"\d{1,9}(?:\.\d{1,6})?"
_INT = r"\d{1,12}"
_DATE = re.compile(r"\d\d-\d\d-\d{4}", re.ASCII)
_TIME = re.compile(r"\d\d:\d\d:\d\d", re.ASCII)
_MEMORY = re.compile(rf"({_INT})/({_INT})(kB|MB|GB)", re.ASCII)
_LOAD = re.compile(rf"({_NUM})%(?:@(?:({_NUM})|\[({_NUM}(?:,{_NUM})*)\]))?", re.ASCII)
_CPU = re.compile(rf"\[([^\[\]]*)\](?:@({_NUM}))?", re.ASCII)
_CORE = re.compile(rf"({_NUM})%(?:@({_NUM}))?", re.ASCII)
_TEMPERATURE = re.compile(rf"([A-Za-z][\w.-]*)@(-?{_NUM})C(?:/-?{_NUM}C)?", re.ASCII)
_RAIL = re.compile(rf"({_INT})(?:mW)?/({_INT})(?:mW)?(?:/({_INT})(?:mW)?)?", re.ASCII)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
_ENGINE = re.compile(rf"off|{_INT}", re.ASCII)
_DLA = re.compile(r"NVDLA(\d)", re.ASCII)
_DETAIL = re.compile(r"[0-9x.]+[kMG]B\)", re.ASCII)
_PERCENT = re.compile(rf"{_NUM}%", re.ASCII)
#: What a rail's value looks like, to tell a malformed one from some other field.
_RAIL_LIKE = re.compile(r"-?[0-9][0-9mW/.-]*", re.ASCII)
#: Keywords whose value has a form of its own; a bad value is a malformed field.
_CPU_KEYWORDS = ("CPU", "cpu")
_LOAD_KEYWORDS = {"EMC_FREQ": "emc", "EMC": "emc", "GR3D_FREQ": "gr3d", "GR3D": "gr3d",
                  "GR3D2_FREQ": "gr3d2"}
_MEMORY_KEYWORDS = ("RAM", "SWAP", "IRAM")
#: The Telemetry field each parsed part feeds, to name it in ``unknown``.
_FIELD_OF = {"ram": "memory_used_bytes", "swap": "swap", "iram": "iram",
             "timestamp": "timestamp", "cpu": "cpu_percent", "emc": "emc_load",
             "gr3d": "gpu_load", "gr3d2": "gr3d2"}


@dataclass(frozen=True)
class CpuCore:
    """One CPU core as tegrastats prints it: load (%) and clock (MHz); None while offline."""

    load_percent: float | None
    mhz: float | None

    @property
    def online(self) -> bool:
        return self.load_percent is not None


@dataclass(frozen=True)
class RailPower:
    """One rail's power in mW: the last sample, the average since tegrastats started, and the
    maximum (JetPack 7)."""

    current_mw: float
    average_mw: float
    max_mw: float | None = None


@dataclass(frozen=True)
class Load:
    """A ``X%@F`` field: busy percent and clock (MHz), or the clock of each GPC."""

    percent: float
    mhz: float | None = None
    gpc_mhz: tuple[float, ...] = ()


@dataclass(frozen=True)
class TegrastatsSample:
    """Everything one tegrastats line says, in its own units (what the fixtures' ``expect:``
    names), and ``problems``: the ``field: why`` of each malformed or unrecognised part."""

    timestamp: str | None = None
    ram_used_bytes: int | None = None
    ram_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    swap_total_bytes: int | None = None
    cpu_cores: tuple[CpuCore, ...] = ()
    emc: Load | None = None
    gr3d: Load | None = None
    gr3d2: Load | None = None
    #: Engine clocks in MHz by printed name (``VIC_FREQ``, ``NVDLA0``); None = ``off``.
    engines_mhz: Mapping[str, float | None] = field(default_factory=dict)
    #: Every temperature by printed name, None while offline (-256C).
    temperatures: Mapping[str, float | None] = field(default_factory=dict)
    #: Rails by printed name, ``NC`` channels left out.
    rails: Mapping[str, RailPower] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def ram_used_mb(self) -> float | None:
        return None if self.ram_used_bytes is None else self.ram_used_bytes / UNIT_BYTES["MB"]

    @property
    def ram_total_mb(self) -> float | None:
        return None if self.ram_total_bytes is None else self.ram_total_bytes / UNIT_BYTES["MB"]

    @property
    def offline_sensors(self) -> tuple[str, ...]:
        return tuple(name for name, celsius in self.temperatures.items() if celsius is None)

    @property
    def engines_off(self) -> tuple[str, ...]:
        return tuple(name for name, mhz in self.engines_mhz.items() if mhz is None)

    def telemetry(self) -> Telemetry:
        """The sample as the runtime's common :class:`Telemetry` (``source="tegrastats"``).

        Rails carry watts only (tegrastats prints power, not volts or amps); temperatures keep
        tegrastats' names (``tj``, ``CPU``), which are not the sysfs zone types (``tj-thermal``,
        ``CPU-therm``) and are not mapped, since only Orin's names are documented.
        """
        unknown = list(self.problems)
        rails = {name: Rail(name, watts=power.current_mw / 1000)
                 for name, power in self.rails.items()}
        if not rails:
            unknown.append("rails: none in the line")
        module_w, why = module_power(rails)
        unknown += [why] if why else []
        temperatures, problems = online_temperatures(self.temperatures.items())
        unknown += problems
        if not self.temperatures:
            unknown.append("temperatures_c: none in the line")
        gpu_load, gpu_hz = _load_fields(self.gr3d, "gpu", "GR3D_FREQ", unknown)
        emc_load, emc_hz = _load_fields(self.emc, "emc", "EMC_FREQ", unknown)
        return Telemetry(
            source="tegrastats", rails=rails, module_w=module_w, temperatures_c=temperatures,
            gpu_load=gpu_load, gpu_hz=gpu_hz, emc_hz=emc_hz, emc_load=emc_load,
            dla_hz=_dla_clocks(self.engines_mhz, unknown), cpu_percent=_cpu_percent(self, unknown),
            memory_used_bytes=self.ram_used_bytes, memory_total_bytes=self.ram_total_bytes,
            throttled=None, unknown=(*unknown, *_memory_unknown(self),
                                     "throttled: tegrastats does not report it"))


def _load_fields(load: Load | None, prefix: str, token: str, unknown: list[str]
                 ) -> tuple[float | None, float | None]:
    """(load 0..1, clock Hz) of a ``X%@F`` field; a per-GPC array gives the fastest GPC."""
    if load is None:
        unknown += [f"{prefix}_{what}: no readable {token} in the line"
                    for what in ("load", "hz")]
        return None, None
    mhz = max(load.gpc_mhz) if load.gpc_mhz else load.mhz
    if mhz is None:
        unknown.append(f"{prefix}_hz: {token} without a clock (tegrastats not run as root)")
    return load.percent / 100, None if mhz is None else mhz * 1e6


def _dla_clocks(engines: Mapping[str, float | None], unknown: list[str]) -> dict[str, float]:
    """``NVDLA<k> F`` as ``dla<k>`` in Hz. An ``off`` core is clock-gated: its rate is not
    printed, so it is left out (with a line) rather than reported as 0 Hz."""
    clocks: dict[str, float] = {}
    for name, mhz in engines.items():
        match = _DLA.fullmatch(name)
        if match is None:
            continue
        core = f"dla{match.group(1)}"
        if mhz is None:
            unknown.append(f"dla_hz[{core}]: {name} off (clock-gated while idle)")
        else:
            clocks[core] = mhz * 1e6
    if not any(_DLA.fullmatch(name) for name in engines):
        unknown.append("dla_hz: no NVDLA field in the line")
    return clocks


def _cpu_percent(sample: TegrastatsSample, unknown: list[str]) -> float | None:
    """The mean load of the online cores (0..100 %, as psutil's whole-host figure)."""
    loads = [core.load_percent for core in sample.cpu_cores if core.load_percent is not None]
    if not loads:
        unknown.append("cpu_percent: no readable CPU field with an online core in the line")
        return None
    return sum(loads) / len(loads)


def _memory_unknown(sample: TegrastatsSample) -> list[str]:
    if sample.ram_used_bytes is not None:
        return []
    return [f"{name}: no readable RAM field in the line"
            for name in ("memory_used_bytes", "memory_total_bytes")]


class _Line:
    """The state of parsing one line: tokens, position, and the sample's fields so far."""

    def __init__(self, line: str) -> None:
        self.tokens = line.split()
        self.at = 0
        self.values: dict[str, object] = {}
        self.cores: tuple[CpuCore, ...] = ()
        self.engines: dict[str, float | None] = {}
        self.temperatures: dict[str, float | None] = {}
        self.rails: dict[str, RailPower] = {}
        self.problems: list[str] = []
        self.unrecognised: list[str] = []

    def peek(self, ahead: int = 0) -> str | None:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def once(self, key: str, value: object, token: str) -> None:
        """A field is kept from its first appearance; a repeat is a problem."""
        if key in self.values:
            self.problems.append(f"{_FIELD_OF[key]}: {token} appears twice; the first is kept")
        else:
            self.values[key] = value


def _number(text: str | None) -> float | None:
    return None if text is None else float(text)


def _take_timestamp(state: _Line) -> bool:
    first, second = state.peek(), state.peek(1)
    if first is None or second is None or not _DATE.fullmatch(first) or not _TIME.fullmatch(
            second):
        return False
    state.once("timestamp", f"{first} {second}", "the timestamp")
    state.at += 2
    return True


def _take_memory(state: _Line) -> bool:
    """``RAM|SWAP|IRAM X/Y<unit>`` and the parenthesised detail that follows it."""
    keyword = state.peek()
    if keyword not in _MEMORY_KEYWORDS:
        return False
    value = state.peek(1)
    match = _MEMORY.fullmatch(value or "")
    if match is None:
        state.problems.append(f"{_FIELD_OF[keyword.lower()]}: malformed {keyword} field "
                              f"{value!r}")
        state.at += 1
        return True
    used, total = (int(match.group(n)) * UNIT_BYTES[match.group(3)] for n in (1, 2))
    if used > total:
        state.problems.append(f"{_FIELD_OF[keyword.lower()]}: {keyword} has {used} B used of "
                              f"{total} B")
    else:
        state.once(keyword.lower(), (used, total), keyword)
    state.at += 2
    detail = state.peek()
    if detail in ("(lfb", "(cached") and _DETAIL.fullmatch(state.peek(1) or ""):
        state.at += 2
    return True


def _cores(body: str, shared_mhz: float | None) -> tuple[CpuCore, ...] | None:
    """The cores of ``CPU [..]``, or None when an entry is malformed."""
    cores: list[CpuCore] = []
    for entry in body.split(","):
        if entry == "off":
            cores.append(CpuCore(None, None))
            continue
        match = _CORE.fullmatch(entry)
        if match is None or float(match.group(1)) > 100:
            return None
        mhz = _number(match.group(2)) if match.group(2) else shared_mhz
        if mhz is not None and mhz > MAX_MHZ:
            return None
        cores.append(CpuCore(float(match.group(1)), mhz))
    return tuple(cores)


def _take_cpu(state: _Line) -> bool:
    if state.peek() not in _CPU_KEYWORDS or not (state.peek(1) or "").startswith("["):
        return False
    value = state.peek(1) or ""
    match = _CPU.fullmatch(value)
    cores = None if match is None else _cores(match.group(1), _number(match.group(2)))
    if cores is None:
        state.problems.append(f"cpu_percent: malformed CPU field {value!r}")
    else:
        state.cores = state.cores if "cpu" in state.values else cores
        state.once("cpu", cores, "CPU")
    state.at += 2
    return True


def _load(value: str) -> Load | None:
    match = _LOAD.fullmatch(value)
    if match is None or float(match.group(1)) > 100:
        return None
    gpcs = tuple(float(f) for f in match.group(3).split(",")) if match.group(3) else ()
    mhz = _number(match.group(2))
    if any(f > MAX_MHZ for f in (*gpcs, mhz or 0.0)):
        return None
    return Load(float(match.group(1)), mhz, gpcs)


def _take_load(state: _Line) -> bool:
    keyword = state.peek()
    if keyword not in _LOAD_KEYWORDS:
        return False
    value = state.peek(1) or ""
    load = _load(value)
    key = _LOAD_KEYWORDS[keyword]
    if load is None:
        state.problems.append(f"{_FIELD_OF[key]}: malformed {keyword} field {value!r}")
        state.at += 1
        return True
    state.once(key, load, keyword)
    state.at += 2
    return True


def _take_mts(state: _Line) -> bool:
    """Xavier's ``MTS fg X% bg Y%`` statistic: recognised and not kept."""
    if state.peek() != "MTS":
        return False
    shape = [state.peek(k) or "" for k in range(1, 5)]
    complete = (shape[0] == "fg" and shape[2] == "bg"
                and all(_PERCENT.fullmatch(v) for v in shape[1::2]))
    state.at += 5 if complete else 1
    if not complete:
        state.problems.append("tegrastats: malformed MTS field")
    return True


def _take_temperature(state: _Line) -> bool:
    token = state.peek() or ""
    if "@" not in token or not token.endswith("C"):
        return False
    match = _TEMPERATURE.fullmatch(token)
    if match is None:
        return False
    name, celsius = match.group(1), float(match.group(2))
    state.at += 1
    if celsius <= OFFLINE_C:
        reading: float | None = None
    elif MIN_PLAUSIBLE_C <= celsius <= MAX_PLAUSIBLE_C:
        reading = celsius
    else:
        state.problems.append(f"temperatures_c[{name}]: implausible {celsius} °C")
        return True
    if name in state.temperatures:
        state.problems.append(f"temperatures_c[{name}]: appears twice; the first is kept")
    else:
        state.temperatures[name] = reading
    return True


def _take_rail(state: _Line) -> bool:
    name, value = state.peek(), state.peek(1)
    if name is None or value is None or not _NAME.fullmatch(name):
        return False
    match = _RAIL.fullmatch(value)
    if match is None:
        if "/" not in value or not _RAIL_LIKE.fullmatch(value):
            return False
        state.problems.append(f"rails[{name}]: malformed value {value!r}")
        state.at += 2
        return True
    state.at += 2
    figures = [int(g) for g in match.groups() if g is not None]
    if any(mw > MAX_RAIL_MW for mw in figures):
        state.problems.append(f"rails[{name}]: implausible {value!r}")
    elif name == NOT_CONNECTED:
        pass
    elif name in state.rails:
        state.problems.append(f"rails[{name}]: appears twice; the first is kept")
    else:
        state.rails[name] = RailPower(*(float(f) for f in figures))
    return True


def _take_engine(state: _Line) -> bool:
    name, value = state.peek(), state.peek(1)
    if name is None or value is None or not _NAME.fullmatch(name):
        return False
    if not _ENGINE.fullmatch(value):
        return False
    state.at += 2
    mhz = None if value == "off" else float(value)
    if mhz is not None and mhz > MAX_MHZ:
        state.problems.append(f"engines[{name}]: implausible {value} MHz")
    elif name in state.engines:
        state.problems.append(f"engines[{name}]: appears twice; the first is kept")
    else:
        state.engines[name] = mhz
    return True


#: Tried in order at each token; the first that recognises it consumes it.
_FIELDS = (_take_timestamp, _take_memory, _take_cpu, _take_load, _take_mts, _take_temperature,
           _take_rail, _take_engine)


def _truncated(state: _Line) -> bool:
    """A known keyword at the very end of the line: the line was cut there."""
    last = state.peek()
    known = (*_MEMORY_KEYWORDS, *_CPU_KEYWORDS, *_LOAD_KEYWORDS, "MTS")
    if state.peek(1) is None and last is not None and last in known:
        state.problems.append(f"tegrastats: truncated after {last!r}")
        state.at += 1
        return True
    return False


def parse_sample(line: str) -> TegrastatsSample:
    """Every field of one tegrastats line, without logging (:func:`parse_tegrastats` warns)."""
    state = _Line(line)
    if not state.tokens:
        state.problems.append("tegrastats: empty line")
    while state.peek() is not None:
        if not (_truncated(state) or any(take(state) for take in _FIELDS)):
            state.unrecognised.append(state.peek() or "")
            state.at += 1
    if state.unrecognised:
        shown = " ".join(repr(t[:24]) for t in state.unrecognised[:6])
        more = f" and {len(state.unrecognised) - 6} more" if len(state.unrecognised) > 6 else ""
        state.problems.append(f"tegrastats: unrecognised {shown}{more}")
    return _sample(state)


def _sample(state: _Line) -> TegrastatsSample:
    ram = state.values.get("ram")
    swap = state.values.get("swap")
    timestamp = state.values.get("timestamp")
    return TegrastatsSample(
        timestamp=timestamp if isinstance(timestamp, str) else None,
        ram_used_bytes=ram[0] if isinstance(ram, tuple) else None,
        ram_total_bytes=ram[1] if isinstance(ram, tuple) else None,
        swap_used_bytes=swap[0] if isinstance(swap, tuple) else None,
        swap_total_bytes=swap[1] if isinstance(swap, tuple) else None,
        cpu_cores=state.cores,
        emc=_as_load(state.values.get("emc")), gr3d=_as_load(state.values.get("gr3d")),
        gr3d2=_as_load(state.values.get("gr3d2")), engines_mhz=state.engines,
        temperatures=state.temperatures, rails=state.rails, problems=tuple(state.problems))


def _as_load(value: object) -> Load | None:
    return value if isinstance(value, Load) else None


def parse_tegrastats(line: str) -> Telemetry:
    """One tegrastats line as :class:`Telemetry` (``source="tegrastats"``). Never raises: a
    malformed or truncated line is logged as a warning and its unreadable fields are None or
    absent, each with a ``field: why`` line in ``unknown``."""
    sample = parse_sample(line)
    if sample.problems:
        log.warning("tegrastats line %r: %s", line[:120], "; ".join(sample.problems))
    return sample.telemetry()


class TegrastatsReader:
    """tegrastats as a telemetry source, for where sysfs cannot be read: it starts
    ``tegrastats --interval MS`` (an argv list, never a shell) the first time it is asked, and
    keeps the last line it printed, parsed. Warnings about malformed lines are logged when
    their problems change, not once a second."""

    def __init__(self, interval_ms: int = 1000, *, program: str = "tegrastats") -> None:
        if interval_ms < 1:
            raise ValueError(f"interval_ms must be positive, not {interval_ms}")
        self.interval_ms = interval_ms
        self.program = program
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._latest: TegrastatsSample | None = None
        self._lines = 0
        self._ended: str | None = None
        self._warned: tuple[str, ...] = ()

    def start(self) -> None:
        """Start tegrastats unless it runs (or could not be run) already."""
        with self._changed:
            if self._process is not None or self._ended is not None:
                return
            executable = shutil.which(self.program)
            if executable is None:
                self._ended = f"tegrastats: {self.program!r} not found on PATH"
                return
            try:
                self._process = subprocess.Popen(  # an argv list: no shell
                    [executable, "--interval", str(self.interval_ms)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace")
            except OSError as exc:
                self._ended = f"tegrastats: cannot run {executable}: {exc.strerror or exc}"
                return
            self._thread = threading.Thread(target=self._pump, args=(self._process,),
                                            name="tegrastats", daemon=True)
            self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        """Parse every line tegrastats prints until it exits."""
        assert process.stdout is not None
        for line in process.stdout:
            sample = parse_sample(line)
            self._warn_once(line, sample.problems)
            with self._changed:
                self._latest = sample
                self._lines += 1
                self._changed.notify_all()
        status = process.wait()
        with self._changed:
            self._ended = f"tegrastats: exited with status {status}"
            self._changed.notify_all()

    def _warn_once(self, line: str, problems: tuple[str, ...]) -> None:
        if problems and problems != self._warned:
            log.warning("tegrastats line %r: %s", line[:120], "; ".join(problems))
        self._warned = problems

    @property
    def lines(self) -> int:
        """How many lines have been read so far."""
        with self._changed:
            return self._lines

    def wait_for_line(self, after: int = 0, timeout: float = 10.0) -> bool:
        """Start tegrastats and wait until more than ``after`` lines were read (True), or it
        ended or ``timeout`` seconds passed without one (False)."""
        self.start()
        with self._changed:
            return self._changed.wait_for(
                lambda: self._lines > after or self._ended is not None, timeout) and (
                self._lines > after)

    def sample(self) -> TegrastatsSample | None:
        """The last line read, parsed (None until one is); starts tegrastats if need be."""
        self.start()
        with self._changed:
            return self._latest

    def read(self) -> Telemetry:
        """The last line as :class:`Telemetry`; before a first line, or when tegrastats cannot
        run, a sample with every field unknown and the reason. Once tegrastats has exited the
        last line is still returned, with a line saying so."""
        self.start()
        with self._changed:
            latest, ended = self._latest, self._ended
        if latest is None:
            return Telemetry(source="tegrastats",
                             unknown=(ended or "tegrastats: no line printed yet",))
        telemetry = latest.telemetry()
        if ended is None:
            return telemetry
        return replace(telemetry, unknown=(*telemetry.unknown, f"{ended}; this is its last line"))

    def close(self) -> None:
        """Stop tegrastats (the process this reader started) and its reading thread."""
        with self._changed:
            process, thread = self._process, self._thread
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if thread is not None:
            thread.join(timeout=5)
        if process is not None and process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> TegrastatsReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
