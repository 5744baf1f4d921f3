"""The nvpmodel.conf parser, on real L4T confs (tests/fixtures/nvpmodel) and on malformed text;
the parsers of nvpmodel -q and its state file, on captured output; reboot-requiring switches."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_runtime.power.nvpmodel import (
    NvpmodelConf,
    NvpmodelParseError,
    NvpmodelStatus,
    parse_nvpmodel,
    parse_nvpmodel_query,
    parse_nvpmodel_status,
    read_nvpmodel,
    read_nvpmodel_status,
    reboot_reasons,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvpmodel"
CONFS = sorted(p.name for p in FIXTURES.glob("*.conf"))


def conf(name: str) -> NvpmodelConf:
    return read_nvpmodel(FIXTURES / name)


def test_all_ten_confs_are_there() -> None:
    assert len(CONFS) == 10


@pytest.mark.parametrize("name", CONFS)
def test_every_conf_parses(name: str) -> None:
    parsed = conf(name)
    assert parsed.modes
    assert parsed.default.id == parsed.default_mode
    ids = [m.id for m in parsed.modes]
    assert ids == sorted(set(ids))
    for mode in parsed.modes:
        assert mode.cpu_online >= 1
        for setting in mode.settings:
            assert setting.param in parsed.params
            assert setting.arg in parsed.params[setting.param].paths


@pytest.mark.parametrize("name", CONFS)
def test_settings_keep_their_line_numbers(name: str) -> None:
    lines = (FIXTURES / name).read_text().splitlines()
    parsed = conf(name)
    for mode in parsed.modes:
        assert f"ID={mode.id} " in lines[mode.line - 1]
        for s in mode.settings:
            assert lines[s.line - 1].split() == [s.param, s.arg, str(s.value)]


@pytest.mark.parametrize("name", CONFS)
def test_tpcs_match_the_8_bit_convention(name: str) -> None:
    # orin_power_modes.yaml: gpu_tpcs = 8 - popcount(TPC_PG_MASK) for Orin's 8-bit masks.
    for mode in conf(name).modes:
        assert mode.tpc_pg_mask is not None
        assert mode.gpu_tpcs(8) == 8 - bin(mode.tpc_pg_mask).count("1")


def test_agx_orin_32gb() -> None:
    parsed = conf("nvpmodel_p3701_0004.conf")
    assert parsed.default_mode == 2
    assert [(m.id, m.name) for m in parsed.modes] == [
        (0, "MAXN"), (1, "MODE_15W"), (2, "MODE_30W"), (3, "MODE_40W")]

    w15 = parsed.mode("MODE_15W")
    assert w15.id == 1
    assert w15.cpu_online == 4
    assert dict(w15.cpu_max_khz) == {"CPU_A78_0": 1113600}  # cluster 1 is offline
    assert w15.gpu_max_hz == 408000000
    assert w15.tpc_pg_mask == 248
    assert w15.gpu_tpcs(7) == 3
    assert w15.emc_max_hz == 2133000000
    assert dict(w15.dla_max_hz) == {0: 614400000, 1: 614400000}

    maxn = parsed.mode(0)
    assert maxn.cpu_online == 8
    assert dict(maxn.cpu_max_khz) == {"CPU_A78_0": None, "CPU_A78_1": None}
    assert maxn.gpu_max_hz is None  # -1
    assert maxn.emc_max_hz is None  # 0 = no cap in JetPack 5 confs
    assert dict(maxn.dla_max_hz) == {0: None, 1: None}
    assert maxn.tpc_pg_mask == 128
    assert maxn.gpu_tpcs(7) == 7  # bit 7: a TPC the 32GB module does not have

    w40 = parsed.mode("mode_40w")
    assert (w40.cpu_online, w40.gpu_max_hz, w40.gpu_tpcs(7)) == (8, 816000000, 7)
    assert dict(w40.dla_max_hz) == {0: 1228800000, 1: 1228800000}


def test_agx_orin_32gb_params() -> None:
    params = conf("nvpmodel_p3701_0004.conf").params
    # "<PARAM TYPE=CLOCK NAME=EMC >": no blank after "<".
    assert params["EMC"].type == "CLOCK"
    assert params["EMC"].line == 91
    assert params["EMC"].paths["MAX_FREQ"] == "/sys/kernel/nvpmodel_emc_cap/emc_iso_cap"
    assert params["CPU_ONLINE"].type == "FILE"
    assert list(params["CPU_ONLINE"].paths) == [f"CORE_{n}" for n in range(12)]
    assert params["CPU_A78_1"].paths["MAX_FREQ"] == (
        "/sys/devices/system/cpu/cpu4/cpufreq/scaling_max_freq")  # per cluster
    assert params["TPC_POWER_GATING"].paths["TPC_PG_MASK"] == "/sys/devices/gpu.0/tpc_pg_mask"
    assert params["DLA1_CORE"].paths["MAX_FREQ"].endswith("/clk_cap/dla1_core")


def test_file_values_stay_strings() -> None:
    maxn = conf("nvpmodel_p3701_0004.conf").mode("MAXN")
    values = {(s.param, s.arg): s.value for s in maxn.settings}
    assert values["GPU_POWER_CONTROL_ENABLE", "GPU_PWR_CNTL_EN"] == "on"
    assert values["GPU_POWER_CONTROL_DISABLE", "GPU_PWR_CNTL_DIS"] == "auto"
    assert values["CPU_A78_0", "MIN_FREQ"] == 729600


def test_agx_orin_64gb() -> None:
    parsed = conf("nvpmodel_p3701_0000.conf")
    assert parsed.default_mode == 2
    maxn, w50 = parsed.mode("MAXN"), parsed.mode("MODE_50W")
    assert (maxn.cpu_online, maxn.tpc_pg_mask, maxn.gpu_tpcs(8)) == (12, 0, 8)
    assert w50.id == 3
    assert dict(w50.cpu_max_khz) == {f"CPU_A78_{n}": 1497600 for n in range(3)}
    assert w50.dla_max_hz[0] == 1369600000


def test_orin_nx_16gb_jetpack5() -> None:
    parsed = conf("nvpmodel_p3767_0000.conf")
    assert parsed.default_mode == 2
    assert [m.name for m in parsed.modes] == ["MAXN", "10W", "15W", "25W"]
    w10 = parsed.mode("10W")
    assert dict(w10.dla_max_hz) == {0: 153600000, 1: 115000000}  # per core
    assert w10.gpu_tpcs(4) == 2
    assert parsed.mode("15W").cpu_max_khz["CPU_A78_0"] == 1651200
    assert parsed.mode("25W").gpu_max_hz == 408000000


def test_orin_nx_16gb_super() -> None:
    parsed = conf("nvpmodel_p3767_0000_super.conf")
    assert parsed.default_mode == 4
    assert parsed.default.name == "40W"
    assert [m.name for m in parsed.modes] == ["MAXN_SUPER", "10W", "15W", "25W", "40W"]
    # The Super conf has one CPU clock param per core.
    assert parsed.params["CPU_A78_7"].paths["MAX_FREQ"] == (
        "/sys/devices/system/cpu/cpu7/cpufreq/scaling_max_freq")
    maxn = parsed.mode("MAXN_SUPER")
    assert maxn.emc_max_hz is None  # -1 here, 0 in JetPack 5 confs
    assert set(maxn.cpu_max_khz.values()) == {None}
    assert dict(parsed.mode("15W").dla_max_hz) == {0: 614400000, 1: 115000000}
    w40 = parsed.mode(4)
    assert w40.gpu_max_hz == 1173000000
    assert dict(w40.dla_max_hz) == {0: 908800000, 1: 908800000}
    assert len(parsed.mode("25W").cpu_max_khz) == 8
    assert parsed.params["EMC"].paths["MAX_FREQ_KNEXT"] == "/sys/kernel/nvpmodel_clk_cap/emc"


def test_orin_nano_8gb() -> None:
    jp5 = conf("nvpmodel_p3767_0003.conf")
    assert jp5.default_mode == 0
    assert not any(p.startswith("DLA") for p in jp5.params)
    w15 = jp5.mode("15W")
    assert (w15.cpu_online, w15.gpu_max_hz, w15.emc_max_hz, dict(w15.dla_max_hz)) == (
        6, None, None, {})
    w7 = jp5.mode("7W")
    assert (w7.cpu_online, dict(w7.cpu_max_khz), w7.gpu_tpcs(4)) == (
        4, {"CPU_A78_0": 960000}, 2)

    sup = conf("nvpmodel_p3767_0003_super.conf")
    assert sup.default_mode == 1
    assert sup.mode("MAXN_SUPER").id == 2
    w25 = sup.mode("25W")
    assert (w25.gpu_max_hz, w25.emc_max_hz) == (918000000, 3199000000)
    assert sup.mode("15W").emc_max_hz == 2133000000


def test_orin_nano_4gb_masks_bits_it_lacks() -> None:
    parsed = conf("nvpmodel_p3767_0004_super.conf")
    assert {m.tpc_pg_mask for m in parsed.modes} == {252}
    assert {m.gpu_tpcs(2) for m in parsed.modes} == {2}
    assert parsed.mode("25W").cpu_max_khz["CPU_A78_5"] == 1728000


def test_mode_lookup_misses() -> None:
    parsed = conf("nvpmodel_p3767_0003.conf")
    with pytest.raises(KeyError):
        parsed.mode(9)
    with pytest.raises(KeyError):
        parsed.mode("MAXN")


# --- malformed input ------------------------------------------------------------------------

GOOD = """\
# comment
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CORE_0 /sys/devices/system/cpu/cpu0/online

<PARAM TYPE=CLOCK NAME=GPU >
MAX_FREQ /sys/gpu/max_freq

< POWER_MODEL ID=0 NAME=MAXN >
CPU_ONLINE CORE_0 1
GPU MAX_FREQ -1

< POWER_MODEL ID=1 NAME=5W >
CPU_ONLINE CORE_0 1
GPU MAX_FREQ 300000000

< PM_CONFIG DEFAULT=1 >
"""


def replace_line(number: int, text: str) -> str:
    lines = GOOD.splitlines()
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


def parse_error(text: str) -> NvpmodelParseError:
    with pytest.raises(NvpmodelParseError) as info:
        parse_nvpmodel(text, source="test.conf")
    return info.value


def test_the_good_text_parses() -> None:
    parsed = parse_nvpmodel(GOOD)
    assert parsed.default.name == "5W"
    assert parsed.mode("5W").gpu_max_hz == 300000000
    assert parsed.mode("MAXN").gpu_max_hz is None


def test_error_is_a_value_error_naming_file_and_line() -> None:
    error = parse_error(replace_line(14, "GPU MAX_FREQ fast"))
    assert isinstance(error, ValueError)
    assert error.line == 14
    assert str(error).startswith("test.conf:14: ")
    assert "'fast' is not an integer" in str(error)


@pytest.mark.parametrize(("number", "line", "reported", "says"), [
    (12, "< POWER_MODEL NAME=5W >", 12, "without ID="),
    (12, "< POWER_MODEL ID= NAME=5W >", 12, "without ID="),
    (12, "< POWER_MODEL ID=one NAME=5W >", 12, "ID=one is not an integer"),
    (12, "< POWER_MODEL ID=1 >", 12, "without NAME="),
    (14, "GPU MAX_FREQ 1.5e9", 14, "not an integer"),
    (14, "GPU MAX_FREQ -2", 14, "negative"),
    (14, "FAN MAX_FREQ 1", 14, "unknown PARAM 'FAN'"),
    (14, "GPU MIN_FREQ 1", 14, "has no argument 'MIN_FREQ'"),
    (14, "GPU MAX_FREQ", 14, "expected 'PARAM_NAME ARG_NAME VALUE'"),
    (13, "CPU_ONLINE CORE_0 yes", 13, "not 0 or 1"),
    (14, "CPU_ONLINE CORE_0 1", 14, "set twice (first on line 13)"),
    (3, "CORE_0", 3, "expected 'ARG_NAME PATH'"),
    (5, "<PARAM TYPE=REGISTER NAME=GPU >", 5, "neither FILE nor CLOCK"),
    (5, "< PARAM TYPE=CLOCK NAME=GPU", 5, "malformed section header"),
    (5, "< FAN_CONFIG DEFAULT=1 >", 5, "unknown section 'FAN_CONFIG'"),
    (12, "< POWER_MODEL ID=0 NAME=5W >", 12, "ID=0 is defined twice (first on line 8)"),
    (16, "< PM_CONFIG DEFAULT=7 >", 16, "DEFAULT=7 is not one of the mode ids [0, 1]"),
    (16, "< PM_CONFIG >", 16, "without DEFAULT="),
    (1, "GPU MAX_FREQ 1", 1, "outside any"),
])
def test_malformed_line(number: int, line: str, reported: int, says: str) -> None:
    error = parse_error(replace_line(number, line))
    assert error.line == reported, str(error)
    assert says in error.reason, str(error)
    assert f"test.conf:{reported}: " in str(error)


def test_unknown_param_used_in_a_mode() -> None:
    text = GOOD.replace("GPU MAX_FREQ 300000000", "DLA0_CORE MAX_FREQ 300000000")
    error = parse_error(text)
    assert error.line == 14
    assert "unknown PARAM 'DLA0_CORE'" in str(error)


def test_missing_pm_config() -> None:
    text = GOOD.replace("< PM_CONFIG DEFAULT=1 >\n", "")
    error = parse_error(text)
    assert error.line == len(text.splitlines())  # the end of the file
    assert "PM_CONFIG" in str(error)


def test_second_pm_config() -> None:
    error = parse_error(GOOD + "< PM_CONFIG DEFAULT=0 >\n")
    assert error.line == 17
    assert "second PM_CONFIG" in str(error)


def test_no_power_model() -> None:
    text = "\n".join(GOOD.splitlines()[:6]) + "\n< PM_CONFIG DEFAULT=0 >\n"
    error = parse_error(text)
    assert "POWER_MODEL" in str(error)
    assert error.line == 7


def test_empty_text() -> None:
    error = parse_error("")
    assert error.line == 1


def test_a_line_inside_pm_config() -> None:
    error = parse_error(GOOD + "GPU MAX_FREQ 1\n")
    assert error.line == 17
    assert "PM_CONFIG takes no lines" in str(error)


def test_tpc_mask_must_be_an_integer() -> None:
    text = GOOD.replace(
        "<PARAM TYPE=CLOCK NAME=GPU >",
        "< PARAM TYPE=FILE NAME=TPC_POWER_GATING >\nTPC_PG_MASK /sys/gpu/tpc_pg_mask\n\n"
        "<PARAM TYPE=CLOCK NAME=GPU >",
    ).replace("CPU_ONLINE CORE_0 1\nGPU MAX_FREQ -1", "TPC_POWER_GATING TPC_PG_MASK ff")
    error = parse_error(text)
    assert "mask 'ff' is not an integer" in str(error)
    assert text.splitlines()[error.line - 1] == "TPC_POWER_GATING TPC_PG_MASK ff"


# --- nvpmodel -q, its state file, and switches that need a reboot ----------------------------

def captured(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(("capture", "name", "mode_id", "fan", "messages"), [
    ("nvpmodel_q_orin_nano_15w.txt", "15W", 0, None, ()),
    ("nvpmodel_q_nano_fan_warning.txt", "MAXN", 0, None, ("NVPM WARN: fan mode is not set!",)),
    ("nvpmodel_q_xavier_fan_mode.txt", "MODE_30W_4CORE", 5, "cool", ()),
    ("nvpmodel_q_verbose_orin_nx16_super_40w.txt", "40W", 4, None, ()),
])
def test_captured_queries_parse(capture: str, name: str, mode_id: int, fan: str | None,
                                messages: tuple[str, ...]) -> None:
    query = parse_nvpmodel_query(captured(capture))
    assert query is not None
    assert (query.name, query.id, query.fan_mode, query.messages) == (name, mode_id, fan, messages)


def test_the_verbose_query_holds_what_the_nodes_hold() -> None:
    query = parse_nvpmodel_query(captured("nvpmodel_q_verbose_orin_nx16_super_40w.txt"))
    assert query is not None
    readings = {(r.param, r.arg): r for r in query.readings}
    assert len(query.readings) == 37
    assert sum(r.real == "1" for r in query.readings if r.param == "CPU_ONLINE") == 8
    gpu = readings["GPU", "MAX_FREQ"]
    assert gpu.path == "/sys/devices/platform/17000000.gpu/devfreq_dev/max_freq"
    assert (gpu.real, gpu.conf) == ("1173000000", "1173000000")
    assert readings["EMC", "MAX_FREQ"].conf == "9223372036854775807"  # -1 in the conf
    # It is the 40W mode of the Super conf of the Orin NX 16GB, cap for cap.
    w40 = conf("nvpmodel_p3767_0000_super.conf").mode(4)
    assert w40.name == query.name
    assert w40.gpu_max_hz == int(gpu.conf)
    assert w40.tpc_pg_mask == int(readings["TPC_POWER_GATING", "TPC_PG_MASK"].real)
    assert dict(w40.dla_max_hz) == {
        0: int(readings["DLA0_CORE", "MAX_FREQ"].conf),
        1: int(readings["DLA1_CORE", "MAX_FREQ"].conf)}


def test_stderr_warnings_after_the_mode_do_not_matter() -> None:
    query = parse_nvpmodel_query("NV Power Mode: MODE_15W\n1\n\nNVPM WARN: fan mode is not set!\n")
    assert query is not None
    assert (query.name, query.id) == ("MODE_15W", 1)
    assert query.messages == ("NVPM WARN: fan mode is not set!",)


@pytest.mark.parametrize("text", [
    "", "\n\n", "garbage\n", "NVPM ERROR: failed to read PARAM CPU_ONLINE\n",
    "NV Power Mode:\n0\n", "Power Mode: MAXN\n0\n",
])
def test_output_without_a_mode_is_none_and_a_warning(
        text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert parse_nvpmodel_query(text) is None
    assert "no 'NV Power Mode:' line" in caplog.text


@pytest.mark.parametrize("text", ["NV Power Mode: MAXN\n", "NV Power Mode: MAXN\nMAXN\n",
                                  "NV Power Mode: MAXN\n-1\n", "NV Power Mode: MAXN\n0 1\n"])
def test_a_mode_without_an_id_keeps_its_name(text: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        query = parse_nvpmodel_query(text)
    assert query is not None
    assert (query.name, query.id) == ("MAXN", None)
    assert "no mode id after 'NV Power Mode: MAXN'" in caplog.text


@pytest.mark.parametrize(("text", "mode_id", "fan"), [
    ("pmode:0002", 2, None), ("pmode:0000\n", 0, None), ("pmode:0008 fmode:quiet", 8, "quiet"),
    ("pmode:0001 fmode:cool\n", 1, "cool"),
])
def test_the_status_file(text: str, mode_id: int, fan: str | None) -> None:
    assert parse_nvpmodel_status(text) == NvpmodelStatus(mode_id, fan)


@pytest.mark.parametrize("text", ["", "pmode:", "pmode:abcd", "mode:0002", "xpmode:0002",
                                  "pmode:0002x", "fmode:quiet"])
def test_a_malformed_status_file_is_none_and_a_warning(
        text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert parse_nvpmodel_status(text, "status") is None
    assert "status: no 'pmode:NNNN' field" in caplog.text


def test_reading_the_status_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    status = tmp_path / "status"
    status.write_text("pmode:0003", encoding="utf-8")
    assert read_nvpmodel_status(status) == NvpmodelStatus(3)
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert read_nvpmodel_status(tmp_path / "absent") is None
    assert "No such file" in caplog.text


def test_online_cores_and_settings() -> None:
    parsed = conf("nvpmodel_p3701_0004.conf")
    assert parsed.mode("MODE_15W").online_cores == frozenset(range(4))
    assert parsed.mode("MAXN").online_cores == frozenset(range(8))
    assert parsed.mode("MODE_15W").setting("TPC_POWER_GATING", "TPC_PG_MASK") == "248"
    assert parsed.mode("MODE_15W").setting("GPU", "MAX_FREQ") == 408000000
    assert parsed.mode("MODE_15W").setting("GPU", "NO_SUCH_ARG") is None


def test_agx_orin_30w_to_maxn_needs_a_reboot() -> None:
    # The captured prompt (nvpmodel_m_reboot_prompt.txt) is this switch on an AGX Orin.
    parsed = conf("nvpmodel_p3701_0000.conf")
    reasons = reboot_reasons(parsed.mode("MODE_30W"), parsed.mode("MAXN"))
    assert reasons == ("CPU cores online 8 (0-7) -> 12 (0-11)", "GPU TPC_PG_MASK 240 -> 0")
    assert reboot_reasons(parsed.mode("MAXN"), parsed.mode("MODE_30W")) == (
        "CPU cores online 12 (0-11) -> 8 (0-7)", "GPU TPC_PG_MASK 0 -> 240")


def test_orin_nano_7w_needs_one_and_the_super_modes_switch_live() -> None:
    jp5 = conf("nvpmodel_p3767_0003.conf")
    assert reboot_reasons(jp5.mode("15W"), jp5.mode("7W")) == (
        "CPU cores online 6 (0-5) -> 4 (0-3)", "GPU TPC_PG_MASK 240 -> 252")
    sup = conf("nvpmodel_p3767_0003_super.conf")
    for a in sup.modes:
        for b in sup.modes:
            assert reboot_reasons(a, b) == (), (a.name, b.name)


def test_a_mask_change_alone_needs_a_reboot() -> None:
    parsed = conf("nvpmodel_p3701_0004.conf")
    assert reboot_reasons(parsed.mode("MAXN"), parsed.mode("MODE_30W")) == (
        "GPU TPC_PG_MASK 128 -> 240",)
    assert reboot_reasons(parsed.mode("MAXN"), parsed.mode("MODE_40W")) == ()


def test_modes_marked_as_needing_a_reboot() -> None:
    sup = conf("nvpmodel_p3767_0003_super.conf")
    w15, maxn = sup.mode("15W"), sup.mode("MAXN_SUPER")
    assert reboot_reasons(w15, maxn, always=["maxn_super"]) == (
        "MAXN_SUPER is marked as needing a reboot",)
    assert reboot_reasons(maxn, w15, always=["MAXN_SUPER"]) == (
        "MAXN_SUPER is marked as needing a reboot",)
    assert reboot_reasons(w15, sup.mode("25W"), always=["MAXN_SUPER"]) == ()


def test_cores_in_other_places_count_as_a_change() -> None:
    text = GOOD.replace("CORE_0 /sys/devices/system/cpu/cpu0/online",
                        "CORE_0 /sys/devices/system/cpu/cpu0/online\n"
                        "CORE_1 /sys/devices/system/cpu/cpu1/online")
    text = text.replace("< POWER_MODEL ID=1 NAME=5W >\nCPU_ONLINE CORE_0 1",
                        "< POWER_MODEL ID=1 NAME=5W >\nCPU_ONLINE CORE_0 0\nCPU_ONLINE CORE_1 1")
    parsed = parse_nvpmodel(text)
    assert reboot_reasons(parsed.mode(0), parsed.mode(1)) == ("CPU cores online 1 (0) -> 1 (1)",)
