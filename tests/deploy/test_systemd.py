"""The unit under a real systemd (252, Debian bookworm, booted with systemd-nspawn), installed
by the project's own install.sh: systemd sees READY and our STATUS, reloads on `systemctl
reload`, kills and restarts the service when the watchdog lapses, and stops it cleanly; the
sudoers rule allows exactly `nvpmodel -m N`; uninstall.sh removes it all. Runs as root (CI
does); on a machine that cannot boot the container it says why in the output and skips."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import onnx
import pytest

from tests.conftest import tiny_classifier
from tests.deploy.container import CACHE, REPO, CannotRunError, Container, log
from tests.service.serve import DLA_RECIPE, SET, free_port

UNIT = "edge-runtime.service"
SOURCE = "/usr/local/src/edge-runtime"
TEST_DIR = "/etc/edge-runtime/test"
#: A drop-in that shortens the timers so the test sees a lapse and a restart quickly.
DROP_IN = """[Service]
WatchdogSec=3
RestartSec=1
"""


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    box = Container(tmp_path_factory.mktemp("systemd"))
    try:
        box.prepare()
        _trust_what_the_host_trusts(box)
        _copy_source(box)
        pip_cache = CACHE / "pip"
        pip_cache.mkdir(parents=True, exist_ok=True)
        box.boot({pip_cache: "/root/.cache/pip"})
    except CannotRunError as reason:
        log(f"NOT RUN on this machine: {reason}")
        box.close()
        pytest.skip(f"no systemd container on this machine: {reason}")
    yield box
    box.close()


def _trust_what_the_host_trusts(box: Container) -> None:
    """This machine reaches the package index through a TLS proxy whose CA is in the host's
    bundle, not in Debian's: the container gets the host's bundle, and pip is told to use it
    (a venv's pip otherwise trusts only its own certifi copy)."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        shutil.copy2(bundle, box.path(str(bundle)))
        box.path("/etc/pip.conf").write_text(f"[global]\ncert = {bundle}\n")


def _copy_source(box: Container) -> None:
    """The checkout's files (tracked and new, not ignored) as a clone has them, symlinks (the
    package's assets/) included."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout
    target = box.path(SOURCE)
    target.mkdir(parents=True)
    packed = subprocess.run(["tar", "-C", str(REPO), "--null", "-T", "-", "-cf", "-"],
                            input=listed, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-C", str(target), "-xf", "-"], input=packed, check=True)


def _write_test_set(box: Container, port: int) -> None:
    """The serve tests' three-pipeline set on a tiny model, a hook that can freeze the DLA
    lane, and an env file pointing the unit at them (install.sh keeps an existing one)."""
    directory = box.path(TEST_DIR)
    directory.mkdir(parents=True)
    onnx.save(tiny_classifier(), directory / "tiny.onnx")
    (directory / "tiny.yaml").write_text("onnx: tiny.onnx\nprecision: fp16\n"
                                         "mock: {outputs: onnxruntime}\n")
    (directory / "tiny_dla.yaml").write_text(textwrap.dedent(DLA_RECIPE))
    (directory / "serve.yaml").write_text(textwrap.dedent(SET).lstrip())
    shutil.copy2(REPO / "tests/service/hooks.py", directory / "hooks.py")
    env = box.path("/etc/edge-runtime/edge-runtime.env")
    env.write_text(f"EDGE_RUNTIME_PIPELINES={TEST_DIR}/serve.yaml\n"
                   f"EDGE_RUNTIME_OPTIONS=--metrics 127.0.0.1:{port} --lane-timeout 1 "
                   f"--fault-hook {TEST_DIR}/hooks.py:freeze_lane\n")
    drop_in = box.path(f"/etc/systemd/system/{UNIT}.d/test.conf")
    drop_in.parent.mkdir(parents=True)
    drop_in.write_text(DROP_IN)


def _wait(box: Container, what: str, done: Callable[[dict[str, str]], bool],
          timeout: float = 120.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    state: dict[str, str] = {}
    while time.monotonic() < deadline:
        state = box.show(UNIT, "ActiveState", "SubState", "StatusText", "NRestarts",
                         "MainPID", "Result", "ExecMainStatus")
        if done(state):
            return state
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout} s: {state}\n{box.journal(UNIT)}")


@pytest.mark.timeout(1800)
def test_the_unit_under_a_real_systemd(container: Container) -> None:
    box = container
    port = free_port()
    _write_test_set(box, port)
    log("running install.sh in the container (pip installs edge-runtime into a venv)")
    started = time.monotonic()
    box.run("bash", f"{SOURCE}/deploy/jetson/install.sh")
    log(f"install.sh took {time.monotonic() - started:.0f} s")

    # READY=1 reached systemd (Type=notify: `start` returned), with our STATUS= line.
    state = _wait(box, "READY", lambda s: s["SubState"] == "running")
    assert "3/3 pipelines running" in state["StatusText"] or "pipelines running" in \
        state["StatusText"], state
    assert box.run("systemctl", "is-enabled", UNIT).stdout.strip() == "enabled"
    first_pid = state["MainPID"]

    # install.sh again: idempotent, the service still up (restarted on the same config).
    box.run("bash", f"{SOURCE}/deploy/jetson/install.sh")
    state = _wait(box, "running after a second install", lambda s: s["SubState"] == "running")
    assert box.run("id", "-nG", "edge-runtime").stdout.split()[1:] == ["video", "render"] or \
        {"video", "render"} <= set(box.run("id", "-nG", "edge-runtime").stdout.split())
    pid = state["MainPID"]
    assert pid != first_pid  # install.sh restarted it

    _verified_and_rated_where_installed(box)
    _sudoers_allow_exactly_nvpmodel_modes(box)
    _the_sandbox_switches_through_the_power_agent(box)
    _reload(box, pid)
    _watchdog_lapse_restarts(box, pid)
    _clean_stop(box)
    _uninstall(box)


def _verified_and_rated_where_installed(box: Container) -> None:
    verify = box.run("systemd-analyze", "verify", f"/etc/systemd/system/{UNIT}", check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    rating = box.run("systemd-analyze", "security", UNIT).stdout
    score = float(rating.rsplit("Overall exposure level for", 1)[1].split(":")[1].split()[0])
    log(f"systemd-analyze security {UNIT} (running, systemd 252): {score}")
    assert score <= 2.5


#: x86 has no nvpmodel: a stand-in at its L4T path records who ran it with which arguments.
NVPMODEL_STAND_IN = """#!/bin/sh
echo "$(id -u) $*" >> /var/log/nvpmodel-calls
"""


def _sudoers_allow_exactly_nvpmodel_modes(box: Container) -> None:
    stand_in = box.path("/usr/sbin/nvpmodel")
    stand_in.write_text(NVPMODEL_STAND_IN)
    stand_in.chmod(0o755)
    box.run("visudo", "-c")
    box.run("sudo", "-n", "/usr/sbin/nvpmodel", "-m", "2", user="edge-runtime")
    assert box.path("/var/log/nvpmodel-calls").read_text() == "0 -m 2\n"  # as root, exactly
    allowed = box.run("sudo", "-n", "-l", "/usr/sbin/nvpmodel", "-m", "2", user="edge-runtime",
                      check=False)
    assert allowed.returncode == 0, allowed.stderr
    for argv in (["-m", "2", "-f", "/tmp/any.conf"], ["-q"], ["-m", "x"]):
        refused = box.run("sudo", "-n", "-l", "/usr/sbin/nvpmodel", *argv, user="edge-runtime",
                          check=False)
        assert refused.returncode != 0, argv
    other = box.run("sudo", "-n", "-l", "/bin/sh", user="edge-runtime", check=False)
    assert other.returncode != 0


#: The main unit's settings that forbid privilege, for a one-off command (systemd-run).
SANDBOX = ["-p", "User=edge-runtime", "-p", "NoNewPrivileges=yes", "-p", "ProtectSystem=strict",
           "-p", "CapabilityBoundingSet=", "-p", "ProtectKernelTunables=yes",
           "-p", "SystemCallFilter=@system-service", "-p", "RestrictNamespaces=yes"]
SWITCH = "from edge_runtime.power.switch import AgentSwitch; AgentSwitch().switch(3)"


def _the_sandbox_switches_through_the_power_agent(box: Container) -> None:
    """In the service's sandbox sudo cannot work (NoNewPrivileges); the power agent, started
    by its socket on the first request, runs `sudo -n nvpmodel -m 3` outside it."""
    calls = box.path("/var/log/nvpmodel-calls")
    calls.write_text("")
    direct = box.run("systemd-run", "--wait", "--pipe", "--quiet", *SANDBOX, "sudo", "-n",
                     "/usr/sbin/nvpmodel", "-m", "1", check=False)
    assert direct.returncode != 0 and calls.read_text() == ""
    assert box.run("systemctl", "is-active", "edge-runtime-power.socket").stdout.strip() == \
        "active"
    box.run("systemd-run", "--wait", "--pipe", "--quiet", *SANDBOX,
            "/opt/edge-runtime/venv/bin/python", "-c", SWITCH)
    assert calls.read_text() == "0 -m 3\n"  # root ran exactly nvpmodel -m 3
    assert "power agent: switched to mode 3" in box.journal("edge-runtime-power.service")


def _reload(box: Container, pid: str) -> None:
    serve_set = box.path(f"{TEST_DIR}/serve.yaml")
    serve_set.write_text(serve_set.read_text().replace("rate_hz: 10\n    priority: high",
                                                       "rate_hz: 5\n    priority: high"))
    box.run("systemctl", "reload", UNIT)
    _wait(box, "the reload", lambda s: "reloaded: added -, changed ['steady']"
          in box.journal(UNIT) and s["SubState"] == "running")
    assert box.show(UNIT, "MainPID")["MainPID"] == pid  # reloaded in place, not restarted


def _watchdog_lapse_restarts(box: Container, pid: str) -> None:
    frozen_at = time.monotonic()
    box.run("systemctl", "kill", "--kill-whom=main", "-s", "SIGUSR1", UNIT)
    state = _wait(box, "a watchdog restart", lambda s: s["NRestarts"] == "1"
                  and s["SubState"] == "running" and s["MainPID"] != pid)
    log(f"lane frozen -> watchdog lapse -> restarted and READY again in "
        f"{time.monotonic() - frozen_at:.1f} s (lane timeout 1 s, WatchdogSec=3)")
    assert state["MainPID"] != pid
    assert "lane stuck on one inference: dla0" in box.journal(UNIT)
    assert "Watchdog timeout" in box.run("journalctl", "--no-pager", "-o", "cat").stdout


def _clean_stop(box: Container) -> None:
    box.run("systemctl", "stop", UNIT)
    state = box.show(UNIT, "ActiveState", "Result", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, \
        box.journal(UNIT)
    assert "stopped in" in box.journal(UNIT)
    sink = box.path("/var/lib/edge-runtime/out/critical.jsonl")
    lines = sink.read_text().splitlines()
    assert lines and all(json.loads(line)["pipeline"] == "critical" for line in lines)
    assert not sink.with_name("critical.jsonl.part").exists()


def _uninstall(box: Container) -> None:
    for _ in range(2):  # idempotent
        box.run("bash", f"{SOURCE}/deploy/jetson/uninstall.sh")
    assert box.run("systemctl", "cat", UNIT, check=False).returncode != 0
    assert not box.path("/etc/sudoers.d/edge-runtime").exists()
    assert box.run("systemctl", "cat", "edge-runtime-power.socket", check=False).returncode != 0
    assert not box.path("/opt/edge-runtime").exists()
    assert box.path("/etc/edge-runtime/edge-runtime.env").exists()  # kept without --purge
    box.run("bash", f"{SOURCE}/deploy/jetson/uninstall.sh", "--purge")
    assert box.run("id", "edge-runtime", check=False).returncode != 0
