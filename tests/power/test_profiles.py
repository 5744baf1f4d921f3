"""The shipped power profiles (power/*.yaml): they load, and their modes say what the confs say.

Each profile names the nvpmodel.conf its modes come from; this test parses the verbatim copy in
tests/fixtures/nvpmodel and compares every mode field by field, so a hand edit of a YAML that
disagrees with L4T fails here. The last test re-runs the generator and wants identical bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.config import bundled_profiles, load_power_profile
from edge_runtime.power.nvpmodel import NvpmodelMode, read_nvpmodel

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "nvpmodel"
POWER = REPO / "power"
GENERATOR = REPO / "tools" / "gen_power_profiles.py"
PROFILES = bundled_profiles()


def test_the_expected_profiles_ship() -> None:
    assert set(PROFILES) >= {
        "jetson-agx-orin-32gb", "jetson-agx-orin-64gb",
        "jetson-orin-nx-16gb", "jetson-orin-nx-16gb-jp5",
        "jetson-orin-nano-8gb", "jetson-orin-nano-8gb-jp5",
    }


@pytest.mark.parametrize("name", PROFILES)
def test_profile_loads(name: str) -> None:
    profile = load_power_profile(name)
    assert profile.module == name
    assert profile.default.id == profile.default_mode
    assert profile.sources


def expected_cpu_cap(mode: NvpmodelMode) -> int | None:
    caps = set(mode.cpu_max_khz.values())
    if not caps or None in caps:
        return None
    assert len(caps) == 1, f"{mode.name}: clusters capped differently: {caps}"
    return caps.pop()


def expected_budget(name: str) -> int | None:
    match = re.search(r"(\d+)W", name)
    return int(match[1]) if match else None


@pytest.mark.parametrize("name", PROFILES)
def test_modes_agree_with_the_conf(name: str) -> None:
    profile = load_power_profile(name)
    assert profile.nvpmodel_conf is not None
    conf = read_nvpmodel(FIXTURES / profile.nvpmodel_conf)
    hw = profile.hardware
    assert profile.default_mode == conf.default_mode
    assert [m.id for m in profile.modes] == [m.id for m in conf.modes]
    for mode in profile.modes:
        source = conf.mode(mode.id)
        assert mode.name == source.name
        assert mode.budget_w == expected_budget(source.name)
        assert mode.cpu_online == source.cpu_online
        assert mode.cpu_max_khz == expected_cpu_cap(source)
        assert mode.gpu_tpcs == source.gpu_tpcs(hw.gpu_tpcs)
        assert mode.gpu_max_hz == source.gpu_max_hz
        assert mode.emc_max_hz == source.emc_max_hz
        # Modules without DLA (Orin Nano) list no DLA caps, whatever the conf says.
        dla = [source.dla_max_hz.get(core) for core in range(hw.dla_cores)]
        assert mode.dla_max_hz == dla


@pytest.mark.parametrize("name", PROFILES)
def test_caps_stay_within_the_hardware(name: str) -> None:
    profile = load_power_profile(name)
    hw = profile.hardware
    for mode in profile.modes:
        assert mode.cpu_online <= hw.cpu_cores
        assert (mode.cpu_max_khz or 0) <= hw.cpu_max_khz
        assert (mode.gpu_max_hz or 0) <= hw.gpu_max_hz
        assert (mode.emc_max_hz or 0) <= hw.emc_max_hz
        for cap in mode.dla_max_hz:
            assert hw.dla_max_hz is not None
            assert (cap or 0) <= hw.dla_max_hz


def test_new_modules() -> None:
    nx = load_power_profile("jetson-orin-nx-16gb")
    assert (nx.default.name, nx.default.budget_w) == ("40W", 40)
    assert nx.find_mode("MAXN_SUPER") is not None
    w15 = nx.find_mode("15W")
    assert w15 is not None
    assert w15.dla_max_hz == [614400000, 115000000]  # DLA0 and DLA1 capped differently
    assert (nx.hardware.gpu_tpcs, nx.hardware.dla_cores) == (4, 2)

    nano = load_power_profile("jetson-orin-nano-8gb")
    assert (nano.default.name, nano.hardware.dla_cores, nano.hardware.dla_max_hz) == (
        "25W", 0, None)
    assert all(m.dla_max_hz == [] for m in nano.modes)
    assert load_power_profile("jetson-orin-nano-8gb-jp5").hardware.emc_max_hz == 2133000000


def run_generator(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(GENERATOR), str(FIXTURES), "--out", str(out), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120)


def test_generator_reproduces_the_shipped_files(tmp_path: Path) -> None:
    result = run_generator(tmp_path)
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert generated == sorted(p.name for p in POWER.glob("*.yaml"))
    for name in generated:
        assert (tmp_path / name).read_bytes() == (POWER / name).read_bytes(), (
            f"power/{name} differs from the generator's output: run "
            "PYTHONPATH=. python tools/gen_power_profiles.py")
        load_power_profile(tmp_path / name)

    # A second run changes nothing, and --check agrees.
    again = run_generator(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    check = run_generator(tmp_path, "--check")
    assert check.returncode == 0, check.stdout
