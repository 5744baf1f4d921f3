"""The real Jetson PowerDevice, on real confs and captured nvpmodel output: its modes (the
device's conf wins over the shipped profile, with notes), its current mode, switching through
stand-in sudo and nvpmodel (a reboot-requiring switch is refused before either runs), and
jetson_clocks on replicated sysfs trees."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from edge_runtime.config.loading import bundled_profiles, load_power_profile
from edge_runtime.power.jetson import (
    JetsonDevice,
    device_profile,
    jetson_clocks_pinned,
    parse_jetson_clocks_show,
    profile_notes,
)
from edge_runtime.power.manager import PowerDevice, PowerManager
from edge_runtime.power.nvpmodel import read_nvpmodel
from edge_runtime.power.switch import (
    RebootRequiredError,
    Runner,
    SudoSwitch,
    SwitchError,
    run_command,
)
from edge_runtime.power.telemetry import Telemetry
from tests.power.test_switch import StandIns

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvpmodel"
AGX_64 = FIXTURES / "nvpmodel_p3701_0000.conf"
AGX_32 = FIXTURES / "nvpmodel_p3701_0004.conf"
NANO_SUPER = FIXTURES / "nvpmodel_p3767_0003_super.conf"


class Switches:
    """A recording switch (the SudoSwitch/AgentSwitch interface)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def switch(self, mode_id: int) -> None:
        self.ids.append(mode_id)


def answers(stdout: str, returncode: int = 0) -> Runner:
    """A runner for ``nvpmodel -q`` that answers with captured text."""
    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        assert argv == ["/usr/sbin/nvpmodel", "-q"]
        return subprocess.CompletedProcess(argv, returncode, stdout, "")
    return run


def fails(argv: list[str]) -> subprocess.CompletedProcess[str]:
    raise FileNotFoundError(2, "No such file or directory", argv[0])


def agx_64(query: str, tmp_path: Path, switch: Switches | None = None) -> JetsonDevice:
    return JetsonDevice(load_power_profile("jetson-agx-orin-64gb"), switch or Switches(),
                        conf_path=AGX_64, root=tmp_path, run=answers(query))


# --- the device's modes ------------------------------------------------------------------------

@pytest.mark.parametrize("name", bundled_profiles())
def test_a_shipped_conf_gives_back_its_shipped_profile(name: str) -> None:
    profile = load_power_profile(name)
    assert profile.nvpmodel_conf is not None
    conf = read_nvpmodel(FIXTURES / profile.nvpmodel_conf)
    assert profile_notes(conf, profile) == []
    assert device_profile(conf, profile) == profile


CUSTOM_MODE = """
< POWER_MODEL ID=4 NAME=MODE_20W_ROBOT >
CPU_ONLINE CORE_0 1
CPU_ONLINE CORE_1 1
CPU_ONLINE CORE_2 1
CPU_ONLINE CORE_3 1
CPU_ONLINE CORE_4 1
CPU_ONLINE CORE_5 1
CPU_ONLINE CORE_6 1
CPU_ONLINE CORE_7 1
TPC_POWER_GATING TPC_PG_MASK 128
CPU_A78_0 MAX_FREQ 1190400
CPU_A78_1 MAX_FREQ 1190400
GPU MAX_FREQ 510000000
EMC MAX_FREQ 2133000000

< PM_CONFIG DEFAULT=2 >
"""


@pytest.fixture
def modified_conf(tmp_path: Path) -> Path:
    """The AGX Orin 32GB conf with a site's own mode, a lowered MODE_15W GPU cap, no MODE_40W
    and another default: what a robot's /etc/nvpmodel.conf may look like."""
    text = AGX_32.read_text(encoding="utf-8")
    start = text.index("< POWER_MODEL ID=3 NAME=MODE_40W >")
    end = text.index("< PM_CONFIG DEFAULT=2 >")
    text = text[:start] + text[end:]
    text = text.replace("< PM_CONFIG DEFAULT=2 >", CUSTOM_MODE.replace(
        "< PM_CONFIG DEFAULT=2 >", "< PM_CONFIG DEFAULT=4 >"))
    w15 = text.index("NAME=MODE_15W")
    text = text[:w15] + text[w15:].replace("GPU MAX_FREQ 408000000", "GPU MAX_FREQ 306000000", 1)
    path = tmp_path / "nvpmodel.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_devices_own_modes_win_with_a_note_for_each_difference(modified_conf: Path) -> None:
    profile = load_power_profile("jetson-agx-orin-32gb")
    conf = read_nvpmodel(modified_conf)
    notes = profile_notes(conf, profile)
    assert notes == [
        "mode MODE_15W: GPU cap 306 MHz here, 408 MHz shipped (the conf's values are used)",
        f"mode 4 MODE_20W_ROBOT is in {modified_conf} but not in the shipped profile "
        "jetson-agx-orin-32gb: used as the conf sets it",
        f"mode 3 MODE_40W of the shipped profile jetson-agx-orin-32gb is not in "
        f"{modified_conf}: not available here",
        f"default mode MODE_20W_ROBOT (4) in {modified_conf}, MODE_30W (2) in the shipped "
        "profile jetson-agx-orin-32gb",
    ]
    mine = device_profile(conf, profile)
    assert [m.name for m in mine.modes] == ["MAXN", "MODE_15W", "MODE_30W", "MODE_20W_ROBOT"]
    assert mine.default.name == "MODE_20W_ROBOT"
    robot = mine.resolve("MODE_20W_ROBOT")
    assert (robot.id, robot.budget_w, robot.cpu_online, robot.cpu_max_khz, robot.gpu_tpcs,
            robot.gpu_max_hz, robot.emc_max_hz, robot.dla_max_hz) == (
        4, 20, 8, 1190400, 7, 510000000, 2133000000, [None, None])
    assert mine.resolve("MODE_15W").gpu_max_hz == 306000000
    assert mine.hardware == profile.hardware


def test_ids_that_moved_are_noted_and_the_devices_ids_are_used(
        tmp_path: Path, modified_conf: Path) -> None:
    text = modified_conf.read_text(encoding="utf-8").replace(
        "< POWER_MODEL ID=4 NAME=MODE_20W_ROBOT >", "< POWER_MODEL ID=9 NAME=MODE_20W_ROBOT >")
    text = text.replace("< PM_CONFIG DEFAULT=4 >", "< PM_CONFIG DEFAULT=9 >")
    text = text.replace("ID=1 NAME=MODE_15W", "ID=5 NAME=MODE_15W")
    moved = tmp_path / "moved.conf"
    moved.write_text(text, encoding="utf-8")
    profile = load_power_profile("jetson-agx-orin-32gb")
    assert "mode MODE_15W: id 5 here, 1 shipped; GPU cap 306 MHz here, 408 MHz shipped (the " \
        "conf's values are used)" in profile_notes(read_nvpmodel(moved), profile)
    switches = Switches()
    device = JetsonDevice(profile, switches, conf_path=moved, root=tmp_path,
                          run=answers("NV Power Mode: MODE_15W\n5\n"))
    assert device.mode.id == 5
    device.apply_mode(profile.resolve("MODE_15W"))  # the shipped mode (id 1), found by name
    assert switches.ids == []  # it is the current one
    device = JetsonDevice(profile, switches, conf_path=moved, root=tmp_path,
                          run=answers("NV Power Mode: MAXN\n0\n"))
    device.apply_mode(device.profile.resolve("MODE_20W_ROBOT"))
    assert switches.ids == [9]


def test_a_device_logs_its_notes_once(modified_conf: Path, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        device = JetsonDevice(load_power_profile("jetson-agx-orin-32gb"), Switches(),
                              conf_path=modified_conf, root=tmp_path,
                              run=answers("NV Power Mode: MAXN\n0\n"))
    assert len(device.notes) == 4
    assert [r.getMessage() for r in caplog.records] == [
        f"{modified_conf}: {note}" for note in device.notes]


def test_a_missing_conf_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        JetsonDevice(load_power_profile("jetson-agx-orin-64gb"), Switches(),
                     conf_path=tmp_path / "absent.conf", root=tmp_path)


# --- the current mode --------------------------------------------------------------------------

def test_it_is_a_real_power_device(tmp_path: Path) -> None:
    device = agx_64("NV Power Mode: MODE_30W\n2\n", tmp_path)
    typed: PowerDevice = device
    assert typed.simulated is False
    assert typed.name == "Jetson AGX Orin 64GB"
    assert typed.mode.name == "MODE_30W"


def test_the_mode_comes_from_nvpmodel_q_with_its_warnings(tmp_path: Path) -> None:
    text = (FIXTURES / "nvpmodel_q_nano_fan_warning.txt").read_text(encoding="utf-8")
    assert agx_64(text, tmp_path).mode.name == "MAXN"


def test_a_mode_without_its_id_is_found_by_name(tmp_path: Path) -> None:
    assert agx_64("NV Power Mode: MODE_50W\n", tmp_path).mode.id == 3


def test_when_nvpmodel_q_fails_the_status_file_says(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    status = tmp_path / "var/lib/nvpmodel/status"
    status.parent.mkdir(parents=True)
    status.write_text("pmode:0001", encoding="utf-8")
    device = JetsonDevice(load_power_profile("jetson-agx-orin-64gb"), Switches(),
                          conf_path=AGX_64, root=tmp_path, run=fails)
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert device.mode.name == "MODE_15W"
    assert "/usr/sbin/nvpmodel -q: [Errno 2] No such file or directory" in caplog.text


def test_when_nothing_says_the_default_is_assumed_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    device = agx_64("NVPM ERROR: Failed to open /etc/nvpmodel.conf\n", tmp_path)
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert device.mode.name == "MODE_30W"  # PM_CONFIG DEFAULT=2
    assert "cannot tell Jetson AGX Orin 64GB's power mode; assuming the default" in caplog.text


# --- switching ---------------------------------------------------------------------------------

def test_a_reboot_requiring_switch_is_refused_before_anything_runs(tmp_path: Path) -> None:
    switches = Switches()
    device = agx_64("NV Power Mode: MODE_30W\n2\n", tmp_path, switches)
    with pytest.raises(RebootRequiredError) as info:
        device.apply_mode(device.profile.resolve("MAXN"))
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "switching MODE_30W (mode 2) -> MAXN (mode 0) needs a reboot (CPU cores online 8 (0-7) "
        "-> 12 (0-11); GPU TPC_PG_MASK 240 -> 0), and nvpmodel asks for it on a terminal that "
        "sudo -n does not have; nothing was run: run `sudo nvpmodel -m 0` on the module, answer "
        "YES and let it reboot, or pick another mode")
    assert switches.ids == []
    assert device.mode.name == "MODE_30W"


def test_the_refusal_names_the_modes_that_switch_live(tmp_path: Path) -> None:
    device = agx_64("NV Power Mode: MAXN\n0\n", tmp_path)
    with pytest.raises(RebootRequiredError, match=r" \(MODE_50W switch from MAXN without one\)$"):
        device.apply_mode(device.profile.resolve("MODE_15W"))


def test_a_live_switch_goes_through_the_switch(tmp_path: Path) -> None:
    switches = Switches()
    device = agx_64("NV Power Mode: MAXN\n0\n", tmp_path, switches)
    device.apply_mode(device.profile.resolve("50W"))
    assert switches.ids == [3]
    assert device.mode.name == "MODE_50W"


def test_switching_to_the_current_mode_runs_nothing(tmp_path: Path) -> None:
    switches = Switches()
    device = agx_64("NV Power Mode: MODE_15W\n1\n", tmp_path, switches)
    device.apply_mode(device.profile.resolve("MODE_15W"))
    assert switches.ids == []


def test_a_mode_the_conf_lacks_is_refused(tmp_path: Path) -> None:
    device = agx_64("NV Power Mode: MAXN\n0\n", tmp_path)
    shipped_32 = load_power_profile("jetson-agx-orin-32gb")
    with pytest.raises(SwitchError, match=r"mode MODE_40W is not in .*nvpmodel_p3701_0000\.conf"):
        device.apply_mode(shipped_32.resolve("MODE_40W"))


def test_marked_modes_always_need_a_reboot(tmp_path: Path) -> None:
    switches = Switches()
    device = JetsonDevice(load_power_profile("jetson-orin-nano-8gb"), switches,
                          conf_path=NANO_SUPER, root=tmp_path, run=answers("NV Power Mode: 15W\n0"),
                          reboot_modes=["MAXN_SUPER"])
    with pytest.raises(RebootRequiredError, match=r"MAXN_SUPER is marked as needing a reboot"):
        device.apply_mode(device.profile.resolve("MAXN_SUPER"))
    device.apply_mode(device.profile.resolve("25W"))
    assert switches.ids == [1]


def test_the_power_manager_switches_through_it(tmp_path: Path) -> None:
    switches = Switches()
    device = agx_64("NV Power Mode: MAXN\n0\n", tmp_path, switches)
    manager = PowerManager(device.profile, device)
    with pytest.raises(RebootRequiredError):
        manager.switch("30W")
    assert manager.switches == 0
    assert manager.switch("50W").name == "MODE_50W"
    assert (manager.switches, switches.ids) == (1, [3])


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    return StandIns(tmp_path, monkeypatch)


def nano_on_standins(tmp_path: Path) -> JetsonDevice:
    return JetsonDevice(load_power_profile("jetson-orin-nano-8gb-jp5"), SudoSwitch("nvpmodel"),
                        conf_path=FIXTURES / "nvpmodel_p3767_0003.conf", root=tmp_path,
                        run=run_command, nvpmodel="nvpmodel")


def test_with_stand_ins_a_reboot_switch_never_reaches_sudo(
        standins: StandIns, tmp_path: Path) -> None:
    standins.reply("NV Power Mode: 15W\n0\n")
    device = nano_on_standins(tmp_path)
    with pytest.raises(RebootRequiredError, match=r"^switching 15W \(mode 0\) -> 7W \(mode 1\) "
                                                  r"needs a reboot \(CPU cores online 6"):
        device.apply_mode(device.profile.resolve("7W"))
    assert standins.calls("nvpmodel") == ["-q"]  # asked for the mode, never told to switch
    assert standins.calls("sudo") == []


def test_with_stand_ins_a_live_switch_is_exactly_sudo_n_nvpmodel_m_n(
        standins: StandIns, tmp_path: Path) -> None:
    standins.reply("NV Power Mode: 25W\n1\n")
    device = JetsonDevice(load_power_profile("jetson-orin-nano-8gb"), SudoSwitch("nvpmodel"),
                          conf_path=NANO_SUPER, root=tmp_path, run=run_command, nvpmodel="nvpmodel")
    device.apply_mode(device.profile.resolve("MAXN_SUPER"))
    assert standins.calls("sudo") == ["-n nvpmodel -m 2"]
    assert standins.calls("nvpmodel") == ["-q", "-m 2"]


def test_with_stand_ins_nvpmodels_own_question_still_stops_it(
        standins: StandIns, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The current mode unknown (-q says nothing useful), so only nvpmodel's answer can tell.
    standins.reply((FIXTURES / "nvpmodel_m_reboot_declined.txt").read_text(encoding="utf-8"))
    device = nano_on_standins(tmp_path)
    with caplog.at_level(logging.WARNING, "edge_runtime.power"), \
            pytest.raises(RebootRequiredError, match="only through a reboot"):
        device.apply_mode(device.profile.resolve("7W"))
    assert "without knowing the current mode" in caplog.text
    assert standins.calls("sudo") == ["-n nvpmodel -m 1"]


# --- jetson_clocks -----------------------------------------------------------------------------

def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="ascii")


def cpu_tree(root: Path, cores: dict[int, tuple[int, int, int]]) -> None:
    """``{core: (online, scaling_min_freq, scaling_max_freq)}``; cpu0 has no ``online`` file,
    as on L4T."""
    for core, (online, low, high) in cores.items():
        cpu = root / "sys/devices/system/cpu" / f"cpu{core}"
        if core:
            write(cpu / "online", str(online))
        write(cpu / "cpufreq/scaling_min_freq", str(low))
        write(cpu / "cpufreq/scaling_max_freq", str(high))
    (root / "sys/devices/system/cpu/cpufreq").mkdir(parents=True, exist_ok=True)  # not a core


def gpu_tree(root: Path, low: int, high: int, devfreq: str = "sys/class/devfreq/17000000.ga10b",
             of_name: str | None = None) -> None:
    write(root / devfreq / "min_freq", str(low))
    write(root / devfreq / "max_freq", str(high))
    write(root / devfreq / "cur_freq", str(high))
    if of_name is not None:
        write(root / devfreq / "device/of_node/name", of_name)


# An AGX Orin at MAXN, by the unpinned and pinned --show captures: 12 cores 729600..2201600 kHz,
# GPU 306..1300.5 MHz.
UNPINNED_CPUS = dict.fromkeys(range(12), (1, 729600, 2201600))
PINNED_CPUS = dict.fromkeys(range(12), (1, 2201600, 2201600))


def test_pinned_clocks_on_a_jetpack_5_tree(tmp_path: Path) -> None:
    cpu_tree(tmp_path, PINNED_CPUS)
    gpu_tree(tmp_path, 1300500000, 1300500000)
    assert jetson_clocks_pinned(tmp_path) is True


def test_dynamic_clocks_on_a_jetpack_5_tree(tmp_path: Path) -> None:
    cpu_tree(tmp_path, UNPINNED_CPUS)
    gpu_tree(tmp_path, 306000000, 1300500000)
    assert jetson_clocks_pinned(tmp_path) is False


def test_a_pinned_cpu_with_a_free_gpu_is_not_jetson_clocks(tmp_path: Path) -> None:
    # As the Nano's 5W mode before jetson_clocks (jetson_clocks_show_nano_5w.txt): its CPU caps
    # alone already read min == max.
    cpu_tree(tmp_path, PINNED_CPUS)
    gpu_tree(tmp_path, 306000000, 1300500000)
    assert jetson_clocks_pinned(tmp_path) is False


def test_offline_cores_do_not_count(tmp_path: Path) -> None:
    cores = dict.fromkeys(range(4), (1, 1113600, 1113600))
    cores |= dict.fromkeys(range(4, 12), (0, 729600, 2201600))  # MODE_15W: 4 cores
    cpu_tree(tmp_path, cores)
    gpu_tree(tmp_path, 408000000, 408000000)
    assert jetson_clocks_pinned(tmp_path) is True


@pytest.mark.parametrize("devfreq", [
    "sys/devices/platform/17000000.gpu/devfreq_dev",
    "sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
    "sys/class/devfreq/17000000.gpu",
])
def test_the_jetpack_6_gpu_nodes(tmp_path: Path, devfreq: str) -> None:
    cpu_tree(tmp_path, dict.fromkeys(range(6), (1, 1728000, 1728000)))
    gpu_tree(tmp_path, 1020000000, 1020000000, devfreq)
    assert jetson_clocks_pinned(tmp_path) is True


def test_the_gpu_is_told_apart_from_other_devfreq_devices(tmp_path: Path) -> None:
    cpu_tree(tmp_path, PINNED_CPUS)
    gpu_tree(tmp_path, 115200000, 115200000, "sys/class/devfreq/15340000.vic")
    gpu_tree(tmp_path, 306000000, 1300500000, "sys/class/devfreq/gpu-devfreq", of_name="ga10b")
    assert jetson_clocks_pinned(tmp_path) is False


@pytest.mark.parametrize("damage", ["no gpu", "no cpus", "unreadable", "garbage"])
def test_what_cannot_be_read_is_unknown(tmp_path: Path, damage: str) -> None:
    cpu_tree(tmp_path, PINNED_CPUS)
    gpu_tree(tmp_path, 1300500000, 1300500000)
    cpu5 = tmp_path / "sys/devices/system/cpu/cpu5/cpufreq/scaling_min_freq"
    if damage == "no gpu":
        for node in (tmp_path / "sys/class/devfreq/17000000.ga10b").iterdir():
            node.unlink()
        (tmp_path / "sys/class/devfreq/17000000.ga10b").rmdir()
    elif damage == "no cpus":
        for core in range(12):
            for name in ("scaling_min_freq", "scaling_max_freq"):
                (tmp_path / f"sys/devices/system/cpu/cpu{core}/cpufreq" / name).unlink()
    elif damage == "unreadable":
        cpu5.unlink()
        cpu5.mkdir()  # reading a directory fails as an unreadable node does
    else:
        cpu5.write_text("fast\n", encoding="ascii")
    assert jetson_clocks_pinned(tmp_path) is None


def test_an_empty_tree_is_unknown(tmp_path: Path) -> None:
    assert jetson_clocks_pinned(tmp_path) is None


def test_the_device_reads_jetson_clocks_under_its_root(tmp_path: Path) -> None:
    device = agx_64("NV Power Mode: MAXN\n0\n", tmp_path)
    assert device.jetson_clocks is None
    cpu_tree(tmp_path, PINNED_CPUS)
    gpu_tree(tmp_path, 1300500000, 1300500000)
    assert device.jetson_clocks is True


@pytest.mark.parametrize(("capture", "pinned", "cpus", "override", "mode"), [
    ("jetson_clocks_show_agx_orin_maxn.txt", False, 12, False, "MAXN"),
    ("jetson_clocks_show_orin_nano_15w.txt", False, 6, False, None),
    ("jetson_clocks_show_nano_5w.txt", False, 4, False, "5W"),
    ("jetson_clocks_show_nano_5w_pinned.txt", True, 4, True, "5W"),
])
def test_captured_jetson_clocks_show(capture: str, pinned: bool, cpus: int, override: bool,
                                     mode: str | None) -> None:
    show = parse_jetson_clocks_show((FIXTURES / capture).read_text(encoding="utf-8"))
    assert show is not None
    assert (show.pinned, len(show.cpus), show.emc_override, show.power_mode) == (
        pinned, cpus, override, mode)


def test_jetson_clocks_show_fields() -> None:
    text = (FIXTURES / "jetson_clocks_show_agx_orin_maxn.txt").read_text(encoding="utf-8")
    show = parse_jetson_clocks_show(text)
    assert show is not None and show.gpu is not None and show.emc is not None
    assert (show.gpu.min, show.gpu.max, show.gpu.current) == (306000000, 1300500000, 306000000)
    assert show.emc.max == 3199000000
    assert show.cpus["cpu10"].current == 1113600
    nano = parse_jetson_clocks_show(
        (FIXTURES / "jetson_clocks_show_nano_5w_pinned.txt").read_text(encoding="utf-8"))
    assert nano is not None
    assert [name for name, c in nano.cpus.items() if not c.online] == ["cpu2", "cpu3"]


@pytest.mark.parametrize("text", ["", "SOC family:tegra234  Machine:Jetson AGX Orin\n",
                                  "cpu0: Online=1 MinFreq=fast MaxFreq=1\nGPU MinFreq=1\n"])
def test_malformed_jetson_clocks_show_is_none_and_a_warning(
        text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "edge_runtime.power"):
        assert parse_jetson_clocks_show(text) is None
    assert "no cpuN or GPU clock line" in caplog.text


# --- telemetry ---------------------------------------------------------------------------------

def test_telemetry_comes_from_the_injected_reader(tmp_path: Path) -> None:
    sample = Telemetry("sysfs", module_w=7.5, temperatures_c={"tj-thermal": 51.0})
    device = JetsonDevice(load_power_profile("jetson-agx-orin-64gb"), Switches(),
                          conf_path=AGX_64, root=tmp_path, run=answers("NV Power Mode: MAXN\n0"),
                          telemetry=lambda: sample)
    assert device.telemetry() is sample


def test_telemetry_reads_sysfs_under_its_root_by_default(tmp_path: Path) -> None:
    zone = tmp_path / "sys/devices/virtual/thermal/thermal_zone0"
    write(zone / "type", "tj-thermal")
    write(zone / "temp", "48500")
    sample = agx_64("NV Power Mode: MAXN\n0\n", tmp_path).telemetry()
    assert sample.source == "sysfs"
    assert sample.temperatures_c == {"tj-thermal": 48.5}
