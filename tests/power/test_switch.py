"""Power switching through sudo and the power agent, over a real Unix socket; the sudo and
nvpmodel here are a recording runner (the systemd container test runs the real sudo)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_runtime.power.switch import (
    AgentSwitch,
    RebootRequiredError,
    SudoSwitch,
    SwitchError,
    serve_agent,
)


class Recorder:
    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode
        self.stderr = stderr

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, "", self.stderr)


def test_sudo_switch_runs_exactly_what_the_sudoers_rule_allows() -> None:
    run = Recorder()
    SudoSwitch(run=run).switch(2)
    assert run.calls == [["sudo", "-n", "/usr/sbin/nvpmodel", "-m", "2"]]


def test_a_password_prompt_names_the_missing_rule() -> None:
    run = Recorder(1, "sudo: a password is required\n")
    with pytest.raises(SwitchError, match=r"a password is required .*install\.sh"):
        SudoSwitch(run=run).switch(1)


def test_modes_outside_the_rule_are_refused_before_sudo() -> None:
    run = Recorder()
    with pytest.raises(SwitchError, match="outside 0-15"):
        SudoSwitch(run=run).switch(16)
    assert run.calls == []


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Path, Recorder]]:
    path = tmp_path / "power.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(0.1)
    run = Recorder()
    done = threading.Event()
    thread = threading.Thread(target=serve_agent, args=(listener, SudoSwitch(run=run),
                                                        done.is_set), daemon=True)
    thread.start()
    yield path, run
    done.set()
    thread.join(5)
    listener.close()


def test_the_agent_switches_and_refuses_anything_but_a_mode_number(
        agent: tuple[Path, Recorder]) -> None:
    path, run = agent
    AgentSwitch(path).switch(3)
    assert run.calls == [["sudo", "-n", "/usr/sbin/nvpmodel", "-m", "3"]]
    for request in (b"3; reboot\n", b"16\n", b"-1\n", b"x\n", b"0 -f /tmp/a.conf\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(path))
            conn.sendall(request)
            reply = conn.makefile("r").readline()
        assert reply.startswith("error: ") and "is not a mode number 0-15" in reply, request
    assert len(run.calls) == 1


def test_a_failed_switch_comes_back_as_one_line(agent: tuple[Path, Recorder]) -> None:
    path, run = agent
    run.returncode, run.stderr = 1, "NVPM ERROR: invalid mode\n"
    with pytest.raises(SwitchError, match=r"^sudo -n /usr/sbin/nvpmodel -m 9 failed: NVPM "
                                          r"ERROR: invalid mode$"):
        AgentSwitch(path).switch(9)


def test_no_agent_is_one_line_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SwitchError, match=r"cannot reach the power agent .*"
                                          r"edge-runtime-power\.socket"):
        AgentSwitch(tmp_path / "absent.sock").switch(0)


# --- the real subprocess path, with stand-in sudo and nvpmodel on PATH ------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvpmodel"

#: A stand-in sudo: records its arguments, refuses with a password prompt where told, else
#: drops ``-n`` and runs the rest (as the real sudo does under the NOPASSWD rule).
SUDO = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}/sudo.log"
if [ -f "{log}/sudo.password" ]; then
    echo "sudo: a password is required" >&2
    exit 1
fi
[ "$1" = "-n" ] && shift
exec "$@"
"""
#: A stand-in nvpmodel: records its arguments and what its stdin is, prints what
#: ``nvpmodel.reply`` holds and exits with ``nvpmodel.rc``.
NVPMODEL = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}/nvpmodel.log"
readlink /proc/self/fd/0 >> "{log}/nvpmodel.stdin"
[ -f "{log}/nvpmodel.reply" ] && cat "{log}/nvpmodel.reply"
exit "$(cat "{log}/nvpmodel.rc" 2>/dev/null || echo 0)"
"""


class StandIns:
    """``sudo`` and ``nvpmodel`` scripts in ``tmp_path/bin``, first on PATH."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dir = tmp_path / "standins"
        bin_dir = self.dir / "bin"
        bin_dir.mkdir(parents=True)
        for name, text in (("sudo", SUDO), ("nvpmodel", NVPMODEL)):
            script = bin_dir / name
            script.write_text(text.format(log=self.dir), encoding="utf-8")
            script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def calls(self, name: str) -> list[str]:
        """The argument lines ``name`` was run with (none: never run)."""
        log = self.dir / f"{name}.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def reply(self, text: str, returncode: int = 0) -> None:
        (self.dir / "nvpmodel.reply").write_text(text, encoding="utf-8")
        (self.dir / "nvpmodel.rc").write_text(str(returncode), encoding="utf-8")

    def ask_for_password(self) -> None:
        (self.dir / "sudo.password").touch()

    def stdin(self) -> list[str]:
        return (self.dir / "nvpmodel.stdin").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    return StandIns(tmp_path, monkeypatch)


def test_the_stand_ins_see_exactly_sudo_n_nvpmodel_m_n(standins: StandIns) -> None:
    SudoSwitch("nvpmodel").switch(2)
    assert standins.calls("sudo") == ["-n nvpmodel -m 2"]
    assert standins.calls("nvpmodel") == ["-m 2"]


@pytest.fixture
def stdin_is_a_pipe() -> Iterator[None]:
    """This process's fd 0 a pipe (as a terminal would be, something a child could wait on),
    so that only an explicit empty stdin makes nvpmodel's stdin /dev/null."""
    saved = os.dup(0)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read_end, write_end):
            os.close(fd)


@pytest.mark.usefixtures("stdin_is_a_pipe")
def test_nvpmodel_gets_an_empty_stdin_so_a_question_cannot_hang(standins: StandIns) -> None:
    SudoSwitch("nvpmodel").switch(1)
    assert standins.stdin() == ["/dev/null"]


def test_a_sudo_password_prompt_is_one_line_naming_the_rule(standins: StandIns) -> None:
    standins.ask_for_password()
    with pytest.raises(SwitchError) as info:
        SudoSwitch("nvpmodel").switch(3)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("sudo -n nvpmodel -m 3 failed: sudo: a password is required (")
    assert "/etc/sudoers.d/edge-runtime needs '" in message
    assert "ALL=(root) NOPASSWD: nvpmodel -m 3'" in message
    assert "deploy/jetson/install.sh" in message
    assert standins.calls("nvpmodel") == []


@pytest.mark.parametrize("capture", ["nvpmodel_m_reboot_declined.txt",
                                     "nvpmodel_m_reboot_prompt.txt"])
def test_nvpmodels_reboot_question_is_a_refusal_not_a_switch(
        standins: StandIns, capture: str) -> None:
    # The captured answer, exit status 0 or 1 alike: nothing was switched either way.
    standins.reply((FIXTURES / capture).read_text(encoding="utf-8"))
    with pytest.raises(RebootRequiredError) as info:
        SudoSwitch("nvpmodel").switch(2)
    message = str(info.value)
    assert "\n" not in message
    assert "only through a reboot, so nothing was switched" in message
    assert "`sudo nvpmodel -m 2`" in message and "or pick another mode" in message


def test_an_nvpm_error_with_exit_status_0_is_still_a_failure(standins: StandIns) -> None:
    standins.reply("NVPM ERROR: Error opening /sys/devices/gpu.0/tpc_pg_mask\n", 0)
    with pytest.raises(SwitchError, match=r"failed: NVPM ERROR: Error opening "):
        SudoSwitch("nvpmodel").switch(0)


def test_a_missing_nvpmodel_is_one_line(standins: StandIns) -> None:
    with pytest.raises(SwitchError, match=r"^sudo -n /nonexistent/nvpmodel -m 0 failed: "):
        SudoSwitch("/nonexistent/nvpmodel").switch(0)


def test_the_agent_passes_a_reboot_refusal_on_as_one(agent: tuple[Path, Recorder]) -> None:
    path, run = agent
    run.stderr = (FIXTURES / "nvpmodel_m_reboot_prompt.txt").read_text(encoding="utf-8")
    with pytest.raises(RebootRequiredError, match="only through a reboot"):
        AgentSwitch(path).switch(0)
