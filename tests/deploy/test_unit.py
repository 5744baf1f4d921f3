"""The deploy files, checked by the tools that judge them: systemd-analyze (verify, and the
security exposure score, which must stay at 2.5 or lower), shellcheck, and static checks of
the Dockerfile (it cannot be built here: arm64 L4T base on NVIDIA's registry)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.deploy.tools import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "jetson"
UNIT = DEPLOY / "edge-runtime.service"
#: The issue's bound on `systemd-analyze security` (0 = fully locked down, 10 = exposed).
MAX_EXPOSURE = 2.5


def exposure(unit: Path) -> float:
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                         capture_output=True, text=True, check=False).stdout
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert found, out
    return float(found.group(1))


def test_the_unit_is_rated_at_most_2_5_by_systemd_analyze_security() -> None:
    require({"systemd-analyze": "systemd"})
    score = exposure(UNIT)
    print(f"systemd-analyze security --offline=yes: {score}")
    assert score <= MAX_EXPOSURE


def test_the_score_is_what_the_hardening_earns(tmp_path: Path) -> None:
    """The check can fail: the same unit without its sandboxing rates far worse."""
    require({"systemd-analyze": "systemd"})
    bare = tmp_path / "edge-runtime.service"
    keep = ("[", "Description", "Type", "ExecStart", "User", "WantedBy")
    bare.write_text("\n".join(line for line in UNIT.read_text().splitlines()
                              if line.startswith(keep)) + "\n")
    assert exposure(bare) > 5.0


def test_systemd_analyze_verify_finds_nothing_but_the_binary_install_sh_creates() -> None:
    """Fully verified (exit 0) in the systemd container after install.sh; here the venv's
    binary does not exist, and that is the only thing it may say."""
    require({"systemd-analyze": "systemd"})
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(UNIT)],
                            capture_output=True, text=True, check=False)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert all("/opt/edge-runtime/venv/bin/edge-runtime is not executable" in line
               for line in lines), lines


def test_the_unit_asks_for_what_the_service_needs() -> None:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]
    assert settings["WatchdogSec"] and settings["Restart"] == ["on-failure"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["User"] == ["edge-runtime"]
    assert settings["SupplementaryGroups"] == ["video render"]
    assert settings["CapabilityBoundingSet"] == [""] and settings["NoNewPrivileges"] == ["yes"]
    assert settings["ProtectSystem"] == ["strict"] and settings["ProtectHome"] == ["yes"]
    assert settings["PrivateTmp"] == ["yes"]
    assert set(settings["ReadWritePaths"][0].split()) == {"/var/cache/edge-runtime",
                                                          "/var/lib/edge-runtime"}
    assert settings["SystemCallFilter"][0] == "@system-service"
    assert "serve" in settings["ExecStart"][0]


def test_the_scripts_are_shellcheck_clean() -> None:
    require({"shellcheck": "shellcheck"})
    scripts = [str(DEPLOY / "install.sh"), str(DEPLOY / "uninstall.sh")]
    result = subprocess.run(["shellcheck", "--severity=style", *scripts], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_the_dockerfile_runs_serve_on_the_l4t_base_as_the_service_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG L4T_JETPACK=nvcr\.io/nvidia/l4t-jetpack:r36\.", text, re.M)
    assert "FROM ${L4T_JETPACK}" in text
    assert re.search(r"^USER edge-runtime$", text, re.M)
    assert '"/opt/edge-runtime/venv/bin/edge-runtime", "serve"' in text
    assert "--system-site-packages" in text and "STOPSIGNAL SIGTERM" in text
    assert "/healthz" in text
