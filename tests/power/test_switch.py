"""Power switching through sudo and the power agent, over a real Unix socket; the sudo and
nvpmodel here are a recording runner (the systemd container test runs the real sudo)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_runtime.power.switch import AgentSwitch, SudoSwitch, SwitchError, serve_agent


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
