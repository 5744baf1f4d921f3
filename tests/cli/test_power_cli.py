"""``edge-runtime power status | watch | set`` through the real entry point: status on the
replicated sysfs trees (every rail and zone of the tree, in W and °C), set through stand-in
``sudo`` and ``nvpmodel`` on PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_runtime.cli.main import main
from edge_runtime.power.telemetry import thermal_zones
from tests.conftest import REPO
from tests.power.test_switch import StandIns

TREES = REPO / "tests" / "fixtures" / "jetson" / "sysfs"
CONFS = REPO / "tests" / "fixtures" / "nvpmodel"


def _tree_rails_w(tree: Path) -> dict[str, float]:
    """Rail -> W straight from the tree's hwmon files (mV x mA), NC and sums left out."""
    rails = {}
    for label in tree.glob("sys/bus/i2c/devices/*/hwmon/hwmon*/in*_label"):
        name = label.read_text(encoding="utf-8").strip()
        channel = label.name.removeprefix("in").removesuffix("_label")
        if name == "NC" or name.lower().startswith("sum of"):
            continue
        volts = int((label.parent / f"in{channel}_input").read_text()) / 1e3
        amps = int((label.parent / f"curr{channel}_input").read_text()) / 1e3
        rails[name] = volts * amps
    return rails


@pytest.mark.parametrize("tree", ["agx-orin-jp6", "agx-orin-jp5", "orin-nano-8gb-jp6"])
def test_status_json_reports_every_rail_and_temperature_of_the_tree(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = TREES / tree
    assert main(["power", "status", "--sysfs-root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = _tree_rails_w(root)
    assert expected and set(data["rails_w"]) == set(expected)
    for name, watts in expected.items():
        assert data["rails_w"][name] == pytest.approx(watts, rel=1e-6)
    online = {name: c for name, c in thermal_zones(root)[0] if c is not None}
    assert online and set(online) <= set(data["temperatures_c"]) | {"PMIC-Die"}
    for name, celsius in data["temperatures_c"].items():
        assert celsius == pytest.approx(online[name])
    assert data["module_w"] is not None and data["module_w"] > 0


def test_status_reads_the_mode_from_the_trees_nvpmodel_state(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "status", "--sysfs-root", str(TREES / "agx-orin-jp6")]) == 0
    out = capsys.readouterr().out
    assert "MAXN (id 0)" in out and "VDD_GPU_SOC" in out and "tj-thermal" in out
    assert "not pinning clocks" in out


def test_status_on_a_host_that_is_no_jetson_says_unknown_and_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "status", "--sysfs-root", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["module_w"] is None and data["rails_w"] == {}
    assert data["power_mode"]["id"] is None
    assert any(line.startswith("rails:") for line in data["unknown"])


def test_status_of_a_missing_root_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "status", "--sysfs-root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and len(err.strip().splitlines()) == 1


def test_watch_json_samples_count_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "watch", "--sysfs-root", str(TREES / "agx-orin-jp6"), "--json",
                 "--count", "2", "--interval", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["module_w"] > 0 for line in lines)


def test_list_shows_the_three_modes_with_clocks_and_budgets(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "list", "--device", "jetson-agx-orin-32gb"]) == 0
    out = capsys.readouterr().out
    for name, budget, gpu_mhz in (("MODE_15W", "15", "408"), ("MODE_30W", "30", "612"),
                                  ("MODE_40W", "40", "816")):
        row = next(line for line in out.splitlines() if name in line)
        assert budget in row and gpu_mhz in row


def test_set_runs_exactly_sudo_n_nvpmodel_m_n(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    standins = StandIns(tmp_path, monkeypatch)
    standins.reply("NV Power Mode: MODE_40W\n3\n")
    # 40W -> MAXN keeps every core and TPC: a live switch
    assert main(["power", "set", "MAXN", "--conf", str(CONFS / "nvpmodel_p3701_0004.conf"),
                 "--nvpmodel", "nvpmodel", "--json"]) == 0
    assert standins.calls("sudo") == ["-n nvpmodel -m 0"]
    assert json.loads(capsys.readouterr().out)["power_mode"] == "MAXN"


def test_set_refuses_a_switch_that_needs_a_reboot_before_running_sudo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    standins = StandIns(tmp_path, monkeypatch)
    standins.reply("NV Power Mode: MODE_30W\n2\n")
    # 30W -> 15W on the AGX Orin 32GB takes four CPU cores offline
    assert main(["power", "set", "15W", "--conf", str(CONFS / "nvpmodel_p3701_0004.conf"),
                 "--nvpmodel", "nvpmodel"]) == 2
    err = capsys.readouterr().err
    assert "needs a reboot" in err and len(err.strip().splitlines()) == 1
    assert standins.calls("sudo") == []


def test_set_with_sudo_asking_for_a_password_names_the_sudoers_rule(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    standins = StandIns(tmp_path, monkeypatch)
    standins.reply("NV Power Mode: MODE_40W\n3\n")
    standins.ask_for_password()
    assert main(["power", "set", "MAXN", "--conf", str(CONFS / "nvpmodel_p3701_0004.conf"),
                 "--nvpmodel", "nvpmodel"]) == 2
    err = capsys.readouterr().err
    assert "sudoers" in err and len(err.strip().splitlines()) == 1


def test_set_an_unknown_mode_lists_the_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    StandIns(tmp_path, monkeypatch).reply("NV Power Mode: MODE_30W\n2\n")
    assert main(["power", "set", "12W", "--conf", str(CONFS / "nvpmodel_p3701_0004.conf"),
                 "--nvpmodel", "nvpmodel"]) == 2
    err = capsys.readouterr().err
    assert "12W" in err and "known: MAXN, 15W, 30W, 40W" in err
