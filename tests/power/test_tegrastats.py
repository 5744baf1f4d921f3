"""The tegrastats parser on the real lines of tests/fixtures/jetson/tegrastats (JetPack 4, 5, 6
and 7) and on malformed ones, and the reader that runs tegrastats (a stand-in on PATH here)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.power.tegrastats import (
    MAX_PLAUSIBLE_C,
    MIN_PLAUSIBLE_C,
    TegrastatsReader,
    TegrastatsSample,
    parse_sample,
    parse_tegrastats,
)
from edge_runtime.power.telemetry import Telemetry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jetson" / "tegrastats"
SAMPLES = yaml.safe_load((FIXTURES / "tegrastats_samples.yaml").read_text(encoding="utf-8"))[
    "samples"]
BY_ID = {sample["id"]: sample for sample in SAMPLES}
LINES = [str(sample["line"]) for sample in SAMPLES]
JP5 = str(BY_ID["agx_orin_64gb_jp5_idle_maxn"]["line"])


def _gr3d_percent(s: TegrastatsSample) -> object:
    return None if s.gr3d is None else s.gr3d.percent


#: How each ``expect:`` key of the fixture reads off a parsed sample.
EXPECT: dict[str, Callable[[TegrastatsSample], object]] = {
    "ram_used_mb": lambda s: s.ram_used_mb,
    "ram_total_mb": lambda s: s.ram_total_mb,
    "cpu_cores": lambda s: len(s.cpu_cores),
    "cpu_online": lambda s: sum(core.online for core in s.cpu_cores),
    "cpu_offline": lambda s: sum(not core.online for core in s.cpu_cores),
    "emc_util_percent": lambda s: None if s.emc is None else s.emc.percent,
    "emc_freq_mhz": lambda s: None if s.emc is None else s.emc.mhz,
    "gr3d_util_percent": _gr3d_percent,
    "gr3d_freq_mhz": lambda s: None if s.gr3d is None else s.gr3d.mhz,
    "gr3d_gpc_freq_mhz": lambda s: None if s.gr3d is None else list(s.gr3d.gpc_mhz),
    "rails_mw": lambda s: {name: rail.current_mw for name, rail in s.rails.items()},
    "rails_mw_current": lambda s: {name: rail.current_mw for name, rail in s.rails.items()},
    "offline_sensors": lambda s: list(s.offline_sensors),
    "engines_off": lambda s: list(s.engines_off),
    "temps_c": lambda s: {name: c for name, c in s.temperatures.items() if c is not None},
}


def test_all_five_captured_lines_are_there() -> None:
    assert len(SAMPLES) == 5
    assert all(key in EXPECT for sample in SAMPLES for key in sample["expect"])


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["id"] for s in SAMPLES])
def test_every_expected_value_of_the_captured_lines(sample: dict[str, object]) -> None:
    parsed = parse_sample(str(sample["line"]))
    expect = sample["expect"]
    assert isinstance(expect, dict)
    for key, value in expect.items():
        assert EXPECT[key](parsed) == value, key
    assert parsed.problems == ()


def telemetry_of(sample_id: str) -> Telemetry:
    return parse_tegrastats(str(BY_ID[sample_id]["line"]))


def test_jp5_agx_orin_as_telemetry() -> None:
    t = telemetry_of("agx_orin_64gb_jp5_idle_maxn")
    assert t.source == "tegrastats"
    assert {name: rail.watts for name, rail in t.rails.items()} == {
        "VDD_GPU_SOC": 2.399, "VDD_CPU_CV": 0.4, "VIN_SYS_5V0": 4.032, "VDDQ_VDD2_1V8AO": 0.301}
    assert t.module_w == pytest.approx(2.399 + 0.4 + 4.032 + 0.301)  # AGX Orin: the sum
    assert "GPU" not in t.temperatures_c and t.temperatures_c["tj"] == 42.593  # -256C left out
    assert "temperatures_c[CV0]: offline (power-gated, -256 °C)" in t.unknown
    assert t.hottest_c == 42.593
    assert (t.gpu_load, t.gpu_hz, t.emc_load, t.emc_hz) == (0.0, 0.0, 0.0, 2.133e9)
    assert t.cpu_percent == 0.0
    assert (t.memory_used_bytes, t.memory_total_bytes) == (1282 << 20, 62795 << 20)
    assert t.throttled is None and "throttled: tegrastats does not report it" in t.unknown


def test_jp6_orin_nano_uses_vdd_in_and_says_the_clocks_are_missing() -> None:
    t = telemetry_of("orin_nano_8gb_jp6_idle_4cores")
    assert t.module_w == 3.913  # VDD_IN, not VDD_IN + its sub-rails
    assert t.rails["VDD_CPU_GPU_CV"].watts == 0.598  # "598mW/598": the average lacks its unit
    assert t.gpu_load == 0.01 and t.gpu_hz is None
    assert t.cpu_percent == pytest.approx(0.25)  # the four online cores only
    assert t.emc_hz is None and t.emc_load is None
    assert "gpu_hz: GR3D_FREQ without a clock (tegrastats not run as root)" in t.unknown
    assert "emc_hz: no readable EMC_FREQ in the line" in t.unknown


def test_jp7_agx_orin_per_gpc_clock_and_cur_max_temperatures() -> None:
    t = telemetry_of("agx_orin_64gb_jp7_loaded")
    assert t.gpu_load == 0.12 and t.gpu_hz == 1.3e9
    assert t.temperatures_c == {"cpu": 52.968, "soc2": 48.406, "soc0": 49.531, "gpu": 47.625}
    assert t.rails["VIN_SYS_5V0"].watts == 5.5  # cur of cur/avg/max
    assert t.dla_hz == {}
    assert "dla_hz[dla0]: NVDLA0 off (clock-gated while idle)" in t.unknown


def test_jp4_xavier_rails_without_units_and_the_pmic_placeholder() -> None:
    t = telemetry_of("agx_xavier_jp44_yolov3_maxn")
    assert t.rails["GPU"].watts == 18.401 and t.rails["CV"].watts == 0.0
    assert (t.gpu_load, t.gpu_hz, t.emc_load) == (0.95, 1.377e9, 0.55)
    assert "PMIC" not in t.temperatures_c and t.hottest_c == 54.5
    assert t.cpu_percent == pytest.approx((17 + 17 + 18 + 25 + 17 + 15 + 23 + 15) / 8)


def test_a_dla_clock_when_the_engine_runs() -> None:
    t = parse_tegrastats("NVDLA0 1600 NVDLA1 off")
    assert t.dla_hz == {"dla0": 1.6e9}


def test_the_older_shared_frequency_cpu_form() -> None:
    sample = parse_sample("CPU [17%,13%,29%,off]@1734")
    assert [(c.load_percent, c.mhz) for c in sample.cpu_cores] == [
        (17.0, 1734.0), (13.0, 1734.0), (29.0, 1734.0), (None, None)]
    assert sample.problems == ()


#: (case, line, field that must be unknown, part of its ``unknown`` line).
MALFORMED = [
    ("empty", "", "memory_used_bytes", "tegrastats: empty line"),
    ("blank", " \t \r ", "gpu_load", "tegrastats: empty line"),
    ("binary junk", "\x00\xff\x81\x1b[31m\ufffd\x7f", "rails", "tegrastats: unrecognised"),
    ("cut after RAM", "04-24-2023 00:01:24 RAM", "memory_used_bytes", "truncated after 'RAM'"),
    ("cut in RAM", "RAM 1282/627", "memory_used_bytes", "malformed RAM field '1282/627'"),
    ("cut in lfb", "RAM 1282/62795MB (lfb", "rails", "unrecognised '(lfb'"),
    ("cut in CPU", "CPU [0%@729,0%@7", "cpu_percent", "cpu_percent: malformed CPU field"),
    ("CPU without ]", "CPU [0%@729,0%@729 EMC_FREQ 0%@2133", "cpu_percent", "malformed CPU"),
    ("cut in GPC array", "GR3D_FREQ 0%@[0,", "gpu_load", "gpu_load: malformed GR3D_FREQ"),
    ("cut after GR3D", "EMC_FREQ 0%@2133 GR3D_FREQ", "gpu_load", "truncated after 'GR3D_FREQ'"),
    ("garbage EMC", "EMC_FREQ abc%@2133", "emc_load", "emc_load: malformed EMC_FREQ field"),
    ("load over 100", "GR3D_FREQ 150%@1377", "gpu_load", "gpu_load: malformed GR3D_FREQ"),
    ("huge RAM", "RAM 99999999999999999999/62795MB", "memory_used_bytes", "malformed RAM"),
    ("huge rail", "VDD_GPU_SOC 99999999999mW/1mW", "module_w", "rails[VDD_GPU_SOC]: implausible"),
    ("negative rail", "VDD_GPU_SOC -2399mW/2399mW", "module_w", "rails[VDD_GPU_SOC]: malformed"),
    ("negative RAM", "RAM -5/100MB", "memory_used_bytes", "malformed RAM field '-5/100MB'"),
    ("used over total", "RAM 5000/100MB", "memory_used_bytes", "RAM has 5242880000 B used"),
    ("huge temperature", "tj@99999C", "temperatures_c", "temperatures_c[tj]: implausible"),
    ("cut temperature", "tj@42.5", "temperatures_c", "unrecognised 'tj@42.5'"),
    ("core over 100", "CPU [200%@729,0%@729]", "cpu_percent", "malformed CPU field"),
    ("cut rail", "VDD_GPU_SOC 2399mW/", "rails", "rails[VDD_GPU_SOC]: malformed value"),
    ("rail without value", "VDD_IN 3913mW/3922mW VDD_SOC", "emc_hz", "unrecognised 'VDD_SOC'"),
    ("huge clock", "GR3D_FREQ 0%@99999999999", "gpu_load", "malformed GR3D_FREQ"),
    ("cut MTS", "MTS fg 0%", "cpu_percent", "tegrastats: malformed MTS field"),
    ("unicode digits", "RAM \u0661\u0662/\u0663\u0664MB", "memory_used_bytes", "malformed RAM"),
    ("huge engine clock", "NVDLA0 999999999", "dla_hz", "engines[NVDLA0]: implausible"),
    ("cut in offline sensor", "CPU@42.593C CV0@-25", "gpu_load", "unrecognised 'CV0@-25'"),
]


@pytest.mark.parametrize(("line", "field", "why"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_a_malformed_line_warns_and_leaves_the_field_unknown(
        line: str, field: str, why: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge_runtime.power.tegrastats"):
        telemetry = parse_tegrastats(line)
    assert any(why in record.getMessage() for record in caplog.records)
    value = getattr(telemetry, field)
    assert value is None or value == {}
    assert any(why in line for line in telemetry.unknown)
    assert any(entry.startswith(field) for entry in telemetry.unknown)


def test_there_are_at_least_twenty_malformed_cases() -> None:
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize(("line", "kept"), [
    ("RAM 1/2MB RAM 3/4MB", "memory_used_bytes: RAM appears twice; the first is kept"),
    ("VDD_IN 1000mW/1mW VDD_IN 2000mW/2mW", "rails[VDD_IN]: appears twice; the first is kept"),
    ("tj@40C tj@50C", "temperatures_c[tj]: appears twice; the first is kept"),
    ("GR3D_FREQ 10%@100 GR3D_FREQ 90%@900", "gpu_load: GR3D_FREQ appears twice; the first is kept"),
    ("CPU [5%@729] CPU [50%@729]", "cpu_percent: CPU appears twice; the first is kept"),
])
def test_a_duplicated_field_keeps_its_first_value(line: str, kept: str) -> None:
    telemetry = parse_tegrastats(line)
    assert kept in telemetry.unknown
    first = {"RAM": telemetry.memory_used_bytes == 1 << 20,
             "VDD": telemetry.module_w == 1.0,
             "tj@": telemetry.temperatures_c == {"tj": 40.0},
             "GR3": telemetry.gpu_load == 0.1,
             "CPU": telemetry.cpu_percent == 5.0}
    assert first[line[:3]]


def last_tokens(line: str) -> list[str]:
    """The last two tokens of a line: a cut may have left either incomplete."""
    return line.split()[-2:]


@pytest.mark.parametrize("line", LINES, ids=[s["id"] for s in SAMPLES])
def test_a_line_cut_anywhere_gives_only_values_of_the_full_line(line: str) -> None:
    full = parse_tegrastats(line)
    for cut in range(len(line) + 1):
        part = line[:cut]
        telemetry = parse_tegrastats(part)
        tail = last_tokens(part)
        for name, rail in telemetry.rails.items():
            if name not in tail:
                assert rail == full.rails[name], (cut, name)
        for name, celsius in telemetry.temperatures_c.items():
            if not any(token.startswith(f"{name}@") for token in tail):
                assert celsius == full.temperatures_c[name], (cut, name)
        if telemetry.memory_used_bytes is not None and "RAM" not in tail:
            assert telemetry.memory_used_bytes == full.memory_used_bytes


def assert_sane(telemetry: Telemetry) -> None:
    """What any parse must hold, whatever it was given."""
    assert telemetry.source == "tegrastats"
    assert all(isinstance(line, str) for line in telemetry.unknown)
    for share in (telemetry.gpu_load, telemetry.emc_load):
        assert share is None or 0.0 <= share <= 1.0
    assert telemetry.cpu_percent is None or 0.0 <= telemetry.cpu_percent <= 100.0
    for rail in telemetry.rails.values():
        assert rail.watts is not None and math.isfinite(rail.watts) and 0 <= rail.watts <= 1000
    for celsius in telemetry.temperatures_c.values():
        assert MIN_PLAUSIBLE_C <= celsius <= MAX_PLAUSIBLE_C
    if telemetry.memory_used_bytes is not None:
        assert telemetry.memory_total_bytes is not None
        assert 0 <= telemetry.memory_used_bytes <= telemetry.memory_total_bytes


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    assert_sane(parse_tegrastats(text))


REAL_TOKENS = sorted({token for line in LINES for token in line.split()})


def mutated(token: str) -> st.SearchStrategy[str]:
    """A real token cut, with a character swapped in, or with a number made huge or negative."""
    return st.one_of(
        st.integers(0, len(token)).map(lambda n: token[:n]),
        st.tuples(st.integers(0, len(token)), st.characters()).map(
            lambda p: token[:p[0]] + p[1] + token[p[0] + 1:]),
        st.just(token.replace("0", "99999999999")), st.just(token.replace("@", "@-")),
        st.just(token.replace("%", "00%")))


TOKEN = st.one_of(st.sampled_from(REAL_TOKENS),
                  st.sampled_from(REAL_TOKENS).flatmap(mutated),
                  st.text(max_size=12))


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKEN, max_size=40))
def test_any_soup_of_real_and_damaged_tokens_never_raises(tokens: list[str]) -> None:
    assert_sane(parse_tegrastats(" ".join(tokens)))


# --- the reader, with a stand-in tegrastats on PATH -------------------------------------------


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str],
             then: str = "") -> Path:
    """A ``tegrastats`` that records its arguments and its pid, prints ``lines`` and runs
    ``then``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "lines.txt").write_text("".join(f"{line}\n" for line in lines))
    program = bin_dir / "tegrastats"
    program.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > '{tmp_path}/argv'\n"
                       f"echo $$ > '{tmp_path}/pid'\ncat '{tmp_path}/lines.txt'\n{then}\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return tmp_path / "argv"


def test_the_reader_starts_tegrastats_only_when_asked_and_keeps_the_last_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [LINES[0], LINES[1]]
    argv = stand_in(tmp_path, monkeypatch, lines)
    with TegrastatsReader(interval_ms=250) as reader:
        assert not argv.exists()  # constructing it ran nothing
        assert reader.wait_for_line(after=len(lines) - 1, timeout=60)
        assert argv.read_text().split() == ["--interval", "250"]
        sample = reader.sample()
        assert sample is not None and sample == parse_sample(lines[-1])
        assert not reader.wait_for_line(after=len(lines), timeout=60)  # no third line: it ended
        telemetry = reader.read()
    assert telemetry.rails == parse_tegrastats(lines[-1]).rails
    assert telemetry.unknown[-1] == "tegrastats: exited with status 0; this is its last line"


def test_close_stops_a_running_tegrastats(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(tmp_path, monkeypatch, [LINES[3]], then="exec sleep 600")
    reader = TegrastatsReader()
    assert reader.wait_for_line(timeout=60)
    telemetry = reader.read()
    assert telemetry.module_w == 3.913
    assert not any(line.startswith("tegrastats: exited") for line in telemetry.unknown)
    pid = int((tmp_path / "pid").read_text())  # written before the line was printed
    reader.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped


def test_a_missing_tegrastats_is_an_unknown_reading_not_an_error() -> None:
    reader = TegrastatsReader(program="no-such-tegrastats-on-this-path")
    assert not reader.wait_for_line(timeout=1)
    assert reader.read() == Telemetry(
        source="tegrastats",
        unknown=("tegrastats: 'no-such-tegrastats-on-this-path' not found on PATH",))
    reader.close()


def test_a_tegrastats_that_fails_at_once(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(tmp_path, monkeypatch, [], then="exit 3")
    with TegrastatsReader() as reader:
        assert not reader.wait_for_line(timeout=60)
        assert reader.read().unknown == ("tegrastats: exited with status 3",)


def test_the_reader_warns_about_a_repeated_bad_line_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bad = "RAM 1282/627 GR3D_FREQ 150%@1377"
    stand_in(tmp_path, monkeypatch, [bad, bad, bad, LINES[0], bad])
    with caplog.at_level(logging.WARNING, logger="edge_runtime.power.tegrastats"), \
            TegrastatsReader() as reader:
        assert reader.wait_for_line(after=4, timeout=60)
        assert reader.read().memory_used_bytes is None
    warnings = [r for r in caplog.records if r.getMessage().startswith("tegrastats line")]
    assert len(warnings) == 2  # the first bad line, and the bad line after a good one


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_ms"):
        TegrastatsReader(interval_ms=0)
