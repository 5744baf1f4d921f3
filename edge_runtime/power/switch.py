"""Switching the module's power mode: ``sudo -n nvpmodel -m N``, from inside a sandbox or not.

nvpmodel writes clocks and core counts into sysfs as root. The service's unit is hardened
(``NoNewPrivileges=yes``, a read-only ``/sys``, no capabilities), so neither sudo (a setuid
program) nor nvpmodel can work from inside it. Privilege separation, as OpenSSH does it: a tiny
**power agent** (``edge-runtime power agent``, its own socket-activated unit, the same
``edge-runtime`` user but outside the sandbox) accepts one mode number per connection on a
Unix socket only that user can open, and runs exactly ``sudo -n /usr/sbin/nvpmodel -m N`` as an
argument list (never a shell), through the one sudoers rule that ``install.sh`` writes. The
service asks it with :class:`AgentSwitch`; a program that is not sandboxed can call
:class:`SudoSwitch` directly. Both raise :class:`SwitchError` with one line to act on.

Some switches need a reboot (:func:`edge_runtime.power.nvpmodel.reboot_reasons`); nvpmodel then
asks ``DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:`` on stdin instead of switching.
:class:`~edge_runtime.power.jetson.JetsonDevice` refuses those before running anything; as a
second line, nvpmodel gets an empty stdin here (so the question is answered by end-of-file,
never by a hang, and never with a YES), and an answer that shows the question is a
:class:`RebootRequiredError`.
"""

from __future__ import annotations

import getpass
import logging
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("edge_runtime.power")

NVPMODEL = "/usr/sbin/nvpmodel"
AGENT_SOCKET = Path("/run/edge-runtime-power/power.sock")
#: The mode numbers the sudoers rule spells out (install.sh), and so the agent accepts.
MAX_MODE = 15
_MODE = re.compile(r"[0-9]{1,2}")
_TIMEOUT_S = 30.0
#: How much of a request the agent reads: a mode number and a newline.
_REQUEST_BYTES = 8
#: The file install.sh writes the rule to.
SUDOERS_FILE = "/etc/sudoers.d/edge-runtime"
#: nvpmodel's reboot question (JetPack 5/6: "NVPM WARN: Reboot required for changing to this
#: power mode: 0", then "NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:").
_REBOOT_PROMPT = re.compile(r"reboot required for changing|do you want to reboot", re.IGNORECASE)
#: How a refusal says it, so the service side of the agent can tell it apart.
_THROUGH_REBOOT = "only through a reboot"

Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


class SwitchError(Exception):
    """A power switch that did not happen; the message says why and what to do."""


class RebootRequiredError(SwitchError):
    """A switch nvpmodel makes only through a reboot: refused, since nobody can answer its
    question here, and a power mode is no reason to reboot a robot under way."""


def reboot_fix(mode_id: int) -> str:
    """What to do instead of a reboot-requiring switch, in one clause."""
    return (f"run `sudo nvpmodel -m {mode_id}` on the module, answer YES and let it reboot, "
            "or pick another mode")


def asks_for_reboot(output: str) -> bool:
    """Whether nvpmodel's output is its reboot question (the switch did not happen)."""
    return _REBOOT_PROMPT.search(output) is not None


def nvpmodel_argv(mode_id: int, nvpmodel: str = NVPMODEL) -> list[str]:
    """Exactly what the sudoers rule allows."""
    return ["sudo", "-n", nvpmodel, "-m", str(mode_id)]


def run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) with an empty stdin: a question nvpmodel asks reads end-of-file
    at once instead of waiting forever for an answer nobody can give."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False,
                          stdin=subprocess.DEVNULL)


class SudoSwitch:
    """``sudo -n nvpmodel -m N`` from this process (not from inside the hardened unit)."""

    def __init__(self, nvpmodel: str = NVPMODEL, run: Runner = run_command) -> None:
        self.nvpmodel = nvpmodel
        self.run = run

    def switch(self, mode_id: int) -> None:
        _check_mode(mode_id)
        argv = nvpmodel_argv(mode_id, self.nvpmodel)
        try:
            result = self.run(argv)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SwitchError(f"{' '.join(argv)}: {exc}") from None
        output = f"{result.stdout}\n{result.stderr}"
        if asks_for_reboot(output):
            raise RebootRequiredError(f"{' '.join(argv)}: nvpmodel switches to mode {mode_id} "
                                      f"{_THROUGH_REBOOT}, so nothing was switched: "
                                      f"{reboot_fix(mode_id)}")
        if result.returncode == 0 and "NVPM ERROR" not in output:
            return
        said = (result.stderr or result.stdout).strip().splitlines()
        errors = [line.strip() for line in output.splitlines() if "NVPM ERROR" in line]
        reason = (errors or said or [f"exit status {result.returncode}"])[-1].strip()
        if "password" in reason:
            reason += f" ({_sudoers_fix(self.nvpmodel, mode_id)})"
        raise SwitchError(f"{' '.join(argv)} failed: {reason}")


class AgentSwitch:
    """Ask the power agent over its socket (what the sandboxed service does)."""

    def __init__(self, path: Path = AGENT_SOCKET, timeout_s: float = _TIMEOUT_S + 5) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def switch(self, mode_id: int) -> None:
        _check_mode(mode_id)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout_s)
                conn.connect(str(self.path))
                conn.sendall(f"{mode_id}\n".encode())
                reply = conn.makefile("r", encoding="utf-8").readline().strip()
        except OSError as exc:
            raise SwitchError(f"cannot reach the power agent at {self.path}: "
                              f"{exc.strerror or exc} (is edge-runtime-power.socket enabled? "
                              "docs/deploy.md)") from None
        if reply != "ok":
            said = reply.removeprefix("error: ") or "the power agent said nothing"
            raise (RebootRequiredError if _THROUGH_REBOOT in said else SwitchError)(said)


def serve_agent(listener: socket.socket, switch: SudoSwitch,
                stop: Callable[[], bool] = lambda: False) -> None:
    """Answer requests on ``listener`` one at a time until ``stop()``: a mode number in,
    ``ok`` or ``error: ...`` out. Anything but a mode number is refused unread."""
    while not stop():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5.0)
            try:
                request = conn.recv(_REQUEST_BYTES).decode("ascii", errors="replace").strip()
                conn.sendall((_answer(request, switch) + "\n").encode())
            except OSError as exc:
                log.warning("power agent: a request failed: %s", exc)


def _answer(request: str, switch: SudoSwitch) -> str:
    if not _MODE.fullmatch(request) or int(request) > MAX_MODE:
        log.warning("power agent: refused %r (not a mode number 0-%d)", request, MAX_MODE)
        return f"error: {request!r} is not a mode number 0-{MAX_MODE}"
    try:
        switch.switch(int(request))
    except SwitchError as exc:
        log.error("power agent: %s", exc)
        return f"error: {exc}"
    log.info("power agent: switched to mode %s", request)
    return "ok"


def _sudoers_fix(nvpmodel: str, mode_id: int) -> str:
    """The missing rule, spelled out: ``sudo -n`` never asks for a password, it fails."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "edge-runtime"
    return (f"the sudoers rule is missing: {SUDOERS_FILE} needs '{user} ALL=(root) NOPASSWD: "
            f"{nvpmodel} -m {mode_id}'; run deploy/jetson/install.sh, or see docs/deploy.md")


def _check_mode(mode_id: int) -> None:
    if not 0 <= mode_id <= MAX_MODE:
        raise SwitchError(f"mode {mode_id} is outside 0-{MAX_MODE}, the modes the sudoers "
                          "rule allows")
